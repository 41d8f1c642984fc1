"""Reading answers with citations: `[note-id]`, `[a, b]` or `[1]` numbers resolved by a Sources list."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import InquireError
from .notes import ID_PATTERN
from .text import split_sentences

_BRACKET = re.compile(r"\[([^\[\]]{1,400})\]")
_SECTION = re.compile(r"^\s*(?:#+\s*)?\**\s*(sources|references|next inquiring lines|nearest inquiring lines)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"^\s*(?:\[(\d{1,3})\]|(\d{1,3})[.)])\s*\[?([a-z0-9][a-z0-9\-]*)\]?")
_MAX_ANSWER_CHARS = 200_000
_TRAILING_CITATION = re.compile(r"([.!?])\s*((?:\[[^\[\]]{1,400}\]\s*)+)")


class AnswerTextError(InquireError, ValueError):
    pass


@dataclass
class CitedSentence:
    text: str
    citations: list[str]
    raw: str


@dataclass
class CitedAnswer:
    sentences: list[CitedSentence] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # numbers with no Sources entry


def _split_sections(text: str) -> tuple[str, list[str]]:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _SECTION.match(line)
        if match and match.group(1).lower() in ("sources", "references"):
            return "\n".join(lines[:i]), lines[i + 1:]
        if match:
            return "\n".join(lines[:i]), []
    return text, []


def _number_map(source_lines: list[str]) -> dict[str, str]:
    mapping = {}
    position = 0
    for line in source_lines:
        if _SECTION.match(line):
            break
        match = _NUMBERED.match(line)
        if match:
            mapping[match.group(1) or match.group(2)] = match.group(3)
            continue
        bullet = re.match(r"^\s*[-*]\s+.*?\[([a-z0-9][a-z0-9\-]*)\]\s*$", line) or re.match(r"^\s*[-*]\s+([a-z0-9][a-z0-9\-]*)\s*$", line)
        if bullet:
            position += 1
            mapping[str(position)] = bullet.group(1)
    return mapping


def parse_cited_answer(text: str) -> CitedAnswer:
    """Split an answer into sentences and their citations. Numbers go through the Sources list."""
    if not isinstance(text, str):
        raise AnswerTextError("the answer must be text")
    if len(text) > _MAX_ANSWER_CHARS:
        raise AnswerTextError(f"the answer is {len(text):,} characters; score at most {_MAX_ANSWER_CHARS:,} at a time")
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    body, source_lines = _split_sections(text)
    numbers = _number_map(source_lines)
    # "Claim. [id] Next claim" -> "Claim [id]. Next claim": a citation after the full stop belongs to the sentence before it.
    body = _TRAILING_CITATION.sub(lambda m: f" {m.group(2).strip()}{m.group(1)} ", body)
    answer = CitedAnswer()
    for raw in split_sentences(body):
        if raw.lower().startswith("this reads the question as"):
            continue
        citations: list[str] = []

        def take(match: re.Match) -> str:
            parts = [p.strip() for p in match.group(1).split(",")]
            if not parts or not all(ID_PATTERN.match(p) or p.isdigit() for p in parts):
                return match.group(0)  # an ordinary bracket, not a citation
            for p in parts:
                if p.isdigit():
                    if p in numbers:
                        p = numbers[p]
                    else:
                        answer.unresolved.append(f"[{p}]")
                        continue
                if p not in citations:
                    citations.append(p)
            return ""

        stripped = _BRACKET.sub(take, raw)
        stripped = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(stripped.split())).strip()
        if stripped.strip(" .") and re.search(r"[A-Za-z]", stripped):
            answer.sentences.append(CitedSentence(stripped, citations, raw))
        elif citations and answer.sentences:
            # A citation that trails the sentence it belongs to, split off as its own "sentence".
            answer.sentences[-1].citations += [c for c in citations if c not in answer.sentences[-1].citations]
    return answer
