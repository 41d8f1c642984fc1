"""Presentation: an answer as the seed shows it (Markdown / terminal text)."""
from __future__ import annotations

from .compose import lead_in


def cite(ids: list[str]) -> str:
    return "[" + ", ".join(ids) + "]"


def answer_markdown(answer) -> str:
    d = answer.draft
    lines = [d.reading, ""]
    if d.abstained:
        lines += ["The corpus does not cover this question, so nothing is cited.", ""]
    for paragraph in d.paragraphs:
        lines += [" ".join(f"{lead_in(s)} {cite(s.citations)}" for s in paragraph), ""]
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
        lines += [f"Sources {len(d.sources)} notes", ""]
        for s in d.sources:
            lines += [f"- {s['title']} [{s['id']}]", f"  {s['summary']}"]
        lines.append("")
    if d.next_lines:
        lines += ["Next inquiring lines" if not d.abstained else "Nearest inquiring lines", ""]
        lines += [f"- {q}" for q in d.next_lines]
    return "\n".join(lines).rstrip() + "\n"
