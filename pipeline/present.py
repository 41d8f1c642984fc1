"""Presentation: an answer as Markdown / terminal text. The brief first; the evidence behind it, one section
per note under the note's title; then what is not covered, the sources and the next lines. Headings start
with '#', so an answer pasted back into `inquire score` is read as its cited sentences only."""
from __future__ import annotations


def cite(ids: list[str]) -> str:
    return "[" + ", ".join(ids) + "]"


def sources_heading(n: int) -> str:
    return f"Sources: {n} note{'' if n == 1 else 's'}"


def _cited(sentences) -> str:
    return " ".join(f"{s.text} {cite(s.citations)}" for s in sentences)


def answer_markdown(answer) -> str:
    d = answer.draft
    lines = [d.reading, ""]
    if d.abstained:
        lines += ["The corpus does not cover this question, so nothing is cited.", ""]
    if d.headline:
        lines += [d.headline, ""]
    if d.paragraphs:
        lines += [_cited(d.paragraphs[0]), ""]
    if len(d.paragraphs) > 1:
        lines += ["## Evidence", ""]
        for heading, paragraph in zip(d.headings + [""] * len(d.paragraphs), d.paragraphs[1:]):
            lines += [f"### {heading or 'Also relevant:'}", "", _cited(paragraph), ""]
    if d.not_covered and not d.abstained:
        lines += [f"Not covered by the notes: {', '.join(d.not_covered)}.", ""]
    llm = getattr(answer, "llm", None)
    if llm and llm.get("fallback"):
        lines += [f"(The LLM composer was not used: {llm['fallback']}.)", ""]
    elif llm and (llm.get("removed") or llm.get("dropped_citations")):
        lines += [f"(Strict grounding removed {len(llm['removed'])} unsupported sentence(s) and "
                  f"{len(llm['dropped_citations'])} citation(s) to notes that were not retrieved.)", ""]
    if llm and llm.get("attributed"):
        lines += [f"({len(llm['attributed'])} sentence(s) the LLM left uncited were cited by Inquire to the note that supports them.)", ""]
    if d.sources:
        lines += [sources_heading(len(d.sources)), ""]
        for s in d.sources:
            lines += [f"- {s['title']} [{s['id']}]", f"  {s['summary']}"]
        lines.append("")
    if d.next_lines:
        lines += ["Next inquiring lines" if not d.abstained else "Nearest inquiring lines", ""]
        lines += [f"- {q}" for q in d.next_lines]
    return "\n".join(lines).rstrip() + "\n"
