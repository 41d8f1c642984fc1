"""HTML for the web page. Every piece of note, question or answer text is escaped: markup never runs."""
from __future__ import annotations

from html import escape


TINTS = {"supported": "#e6f4ea", "weak": "#fff4d6", "unsupported": "#fde2e1"}
WEAK_FLOOR = 0.3  # below the supported threshold but above this: shown as weak


def grounding_class(support: float | None, supported: bool | None) -> str:
    if supported:
        return "supported"
    return "weak" if (support or 0.0) >= WEAK_FLOOR else "unsupported"


def _sentence_span(text: str, citations: list[str], support, supported, evidence, unsupported) -> str:
    kind = grounding_class(support, supported)
    cites = " ".join(f'<a class="cite" href="#src-{escape(c)}">[{escape(c)}]</a>' for c in citations)
    detail = f"support {support:.2f}" if support is not None else "not scored"
    if evidence:
        detail += " | evidence: " + " / ".join(f"[{e['id']}] {e['text']}" for e in evidence[:2])
    if unsupported and not supported:
        detail += " | unsupported: " + "; ".join(unsupported[:4])
    return (f'<span class="sent {kind}" title="{escape(detail)}" style="background:{TINTS[kind]}">'
            f"{escape(text)} {cites}</span>")


def _spans(answer: dict, indices: list[int]) -> str:
    spans = []
    for i in indices:
        s = answer["sentences"][i]
        spans.append(_sentence_span(s["text"], s["citations"], s["support"], s["supported"], s["evidence"], s["unsupported"]))
    return " ".join(spans)


def legend_html(threshold: float | None) -> str:
    """What the tints and the per-sentence support mean, and where the line between supported and not lies."""
    line = f"{threshold:.2f}" if threshold is not None else "the scorer's threshold"
    return ('<p class="legend"><small>Each sentence is quoted from the note it cites and checked against it: '
            f'<span class="sent supported" style="background:{TINTS["supported"]}">green</span> = supported '
            f'(support {line} or more), <span class="sent weak" style="background:{TINTS["weak"]}">amber</span> = weak '
            f'(support {WEAK_FLOOR:.2f} to {line}), <span class="sent unsupported" style="background:{TINTS["unsupported"]}">red</span> '
            f'= not supported (below {WEAK_FLOOR:.2f}). Support is the estimated probability that the cited note states the '
            "sentence; hover a sentence to see it and the evidence.</small></p>")


def answer_html(answer: dict, notes: dict[str, dict]) -> str:
    """Reading line; the brief, prominent; the evidence by note under each note's title, collapsed; grounding,
    legend and Sources (expandable)."""
    # data-question says which question this answer is for (the reading line no longer restates it).
    parts = [f'<div class="inquire-answer" data-question="{escape(answer["question"])}">'
             f'<p class="reading"><em>{escape(answer["reading"])}</em></p>']
    if answer["abstained"]:
        parts.append('<p class="declined"><strong>The corpus does not cover this question</strong>, so nothing is cited. '
                     "The nearest inquiring lines are listed below.</p>")
    if answer.get("headline"):
        parts.append(f'<p class="headline"><strong>{escape(answer["headline"])}</strong></p>')
    brief = answer.get("brief", list(range(len(answer["sentences"]))))
    if brief:
        parts.append(f'<div class="brief">{_spans(answer, brief)}</div>')
    groups = answer.get("evidence", [])
    if groups:
        count = sum(len(g["sentences"]) for g in groups)
        parts.append(f'<details class="evidence"><summary>Evidence: {count} more sentence{"s" if count != 1 else ""} from '
                     f'{len(groups)} note{"s" if len(groups) != 1 else ""}</summary>')
        for g in groups:
            cite = f' <code>[{escape(g["id"])}]</code>' if g.get("id") else ""
            parts.append(f'<h4 class="evidence-note">{escape(g["title"] or "Also relevant:")}{cite}</h4>'
                         f'<p>{_spans(answer, g["sentences"])}</p>')
        parts.append("</details>")
    if answer.get("not_covered") and not answer["abstained"]:
        parts.append(f'<p class="not-covered">Not covered by the notes: {escape(", ".join(answer["not_covered"]))}.</p>')
    parts.append(llm_report_html(answer.get("llm")))
    if answer["sources"]:
        g = answer["grounding"]
        parts.append(f'<p class="grounding">Grounding: {g["supported_fraction"]:.0%} of sentences supported; '
                     f'citation recall {g["citation_recall"]:.2f}, citation precision {g["citation_precision"]:.2f}.</p>')
        parts.append(legend_html(g.get("support_threshold")))
        n = len(answer["sources"])
        parts.append(f"<h3>Sources: {n} note{'' if n == 1 else 's'}</h3>")
        for s in answer["sources"]:
            parts.append(note_html(notes.get(s["id"], s), anchor=True))
    parts.append("</div>")
    return "\n".join(parts)


def llm_report_html(report: dict | None) -> str:
    """What the LLM composer's strict grounding did: fallback, removed sentences, dropped citations, repairs."""
    if not report:
        return ""
    removed = [f"<li>removed: \u201c{escape(r['text'])}\u201d ({escape(r['reason'])})</li>" for r in report["removed"]]
    if report.get("fallback"):
        return (f'<p class="llm-fallback"><strong>LLM composer not used:</strong> {escape(report["fallback"])}.</p>'
                + (f'<details class="llm-report"><summary>What strict grounding removed from the LLM\'s reply</summary>'
                   f'<ul>{"".join(removed)}</ul></details>' if removed else ""))
    items = list(removed)
    items += [f"<li>repaired: “{escape(r['before'])}” → “{escape(r['after'])}”</li>" for r in report["repaired"]]
    items += [f"<li>cited by Inquire (the LLM left it uncited): \u201c{escape(r['text'])}\u201d [{escape(r['note'])}]</li>"
              for r in report.get("attributed", [])]
    if report["dropped_citations"]:
        items.append("<li>citations to notes that were not retrieved, dropped: " + escape(", ".join(report["dropped_citations"])) + "</li>")
    summary = f"Written by the LLM composer; strict grounding removed {len(report['removed'])} sentence(s)" if items else "Written by the LLM composer; every sentence kept"
    return f'<details class="llm-report"><summary>{summary}</summary><ul>{"".join(items)}</ul></details>' if items else f'<p class="llm-report">{summary}.</p>'


def streaming_html(text: str) -> str:
    """The LLM's reply as it arrives, before grounding: plain escaped text, clearly marked unchecked."""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return ('<div class="inquire-streaming"><p><em>The model is writing; citations are checked and tinted when it '
            f"finishes.</em></p>{paragraphs}</div>")


def note_html(note: dict, anchor: bool = False) -> str:
    nid = escape(note["id"])
    body = "".join(f"<p>{escape(p)}</p>" for p in note.get("body", "").split("\n\n") if p.strip())
    sources = "".join(f"<li>{escape(str(s.get('title')))} ({escape(str(s.get('year')))}) {escape(str(s.get('url')))}</li>" for s in note.get("sources", []))
    return (f'<details {"id=src-" + nid if anchor else ""} class="source"><summary><strong>{escape(note["title"])}</strong> '
            f'<code>[{nid}]</code><br>{escape(note["summary"])}</summary>{body}'
            f'{"<ul>" + sources + "</ul>" if sources else ""}</details>')


DECIDERS = {"quote": "an exact quote of the cited note", "features": "the feature model (numbers, names, negation, overlap)",
            "judge": "the LLM judge (its Yes/No and, for the local judge, a probe on its hidden state), combined with the feature model"}


def score_html(report: dict) -> str:
    """Each sentence tinted, its verdict in words beside its support and the line it was held to, the evidence it
    was judged against, which stage decided, and for a flagged sentence the note sentence to compare it with."""
    rows = []
    for s in report["sentences"]:
        parts = [f"judge alone {s['judge_support']:.2f}" if s.get("judge_support") is not None else "",
                 f"probe {s['probe_support']:.2f}" if s.get("probe_support") is not None else ""]
        extra = "".join(f"; {p}" for p in parts if p)
        evidence = "".join(f"<li><code>[{escape(e['id'])}]</code> {escape(e['text'])}</li>" for e in s["evidence"][:3])
        clash = s.get("clashes_with")
        verdict = s.get("verdict") or ("supported" if s["supported"] else "not supported")
        rows.append("<li>" + _sentence_span(s["text"], s["citations"], s["support"], s["supported"], s["evidence"], s["unsupported"])
                    + f' <small><strong class="verdict">{escape(verdict)}</strong>: support {s["support"]:.2f} '
                    + f'(line {s.get("threshold", 0.5):.2f}){extra}; decided by {escape(DECIDERS.get(s.get("decided_by", ""), s.get("decided_by", "")))}'
                    + (f' | unsupported: {escape("; ".join(s["unsupported"][:4]))}' if not s["supported"] and s["unsupported"] else "")
                    + "</small>"
                    + (f'<p class="clash">Compare with <code>[{escape(clash["id"])}]</code>: \u201c{escape(clash["text"])}\u201d</p>' if clash else "")
                    + f'{"<ul class=evidence>" + evidence + "</ul>" if evidence else ""}</li>')
    unknown = ", ".join(report["unknown_citations"]) or "none"
    judge = report.get("judge", "features")
    hint = " To read meaning as well, install the LLM judge: <code>make install-judge</code>." if "not available" in judge else ""
    legend = ('<p class="score-legend">Support runs from 0 to 1. A sentence counts as supported when its support '
              "reaches the line of the stage that decided it (shown as <em>line</em>); within 0.15 of the line the "
              'verdict says <em>borderline</em>. Tints: <span style="background:#e6f4ea">supported</span>, '
              f'<span style="background:#fff4d6">below the line, support at least {WEAK_FLOOR}</span>, '
              '<span style="background:#fde2e1">not supported</span>.</p>')
    return (f'<div class="inquire-score">{legend}<p>Supported fraction {report["supported_fraction"]:.2f}; citation recall '
            f'{report["citation_recall"]:.2f}; citation precision {report["citation_precision"]:.2f}; unknown citations: '
            f"{escape(unknown)}</p><p class=judge>Grounding judge: {escape(judge)}.{hint}</p><ol>{''.join(rows)}</ol></div>")


def listing_html(notes: list[dict], total: int, query: str) -> str:
    """The notes list under its count, so a search says how many notes match."""
    count = (f"All {total} notes" if not (query or "").strip()
             else f'{len(notes)} note{"s" if len(notes) != 1 else ""} match "{escape(query.strip())}"')
    return f'<p class="note-count"><strong>{count}</strong></p>' + "\n".join(note_html(n) for n in notes)


def history_html(history: dict) -> str:
    """A note's kept versions, newest first: when, by whom, why, and the text itself (collapsed)."""
    if not history["versions"]:
        return f'<p class="history">Note <code>{escape(history["id"])}</code> has no earlier versions: it was never replaced or deleted through Inquire.</p>'
    rows = [f'<details class="version"><summary>version {v["version"]}: {escape(v["reason"])} at {escape(v["saved"])}'
            f'{" by " + escape(v["by"]) if v["by"] else ""} <small>sha256 {escape(v["sha256"][:12])}</small></summary>'
            f'<pre>{escape(v["text"])}</pre></details>' for v in reversed(history["versions"])]
    return f'<div class="history"><p>Kept versions of <code>{escape(history["id"])}</code>, newest first:</p>{"".join(rows)}</div>'
