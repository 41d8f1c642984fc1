"""The default composer: a query-focused extractive synthesis that needs no LLM.

It picks note sentences that answer the question (relevance with a redundancy penalty, i.e.
maximal marginal relevance, Carbonell & Goldstein 1998), groups them into paragraphs by theme,
orders the paragraphs as an argument, and cites every sentence to the note it comes from. The
only words it adds are a reading of the question and short connectives: never a factual claim.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .index import NoteIndex
from .retrieve import Hit, top_rows
from .settings import Settings
from .text import STOPWORDS, content_words

MMR_LAMBDA = 0.7  # relevance vs novelty when picking the next sentence
PER_NOTE = 2  # most sentences quoted from one note
NOTE_FLOOR = 0.25  # a retrieved note joins the answer only if some sentence is this close to the question
THEME_LINK = 0.45  # notes whose vectors are this similar share a paragraph
CONNECTIVES = ("", "A second line of evidence points the same way: ", "A further thread concerns the method itself: ",
               "The notes also bear on what lies underneath: ")


@dataclass
class AnswerSentence:
    text: str
    citations: list[str]
    support: float | None = None
    supported: bool | None = None
    evidence: list[dict] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    lead: str = ""  # connective wording shown before the sentence, not part of the claim

    def to_json(self) -> dict:
        return {"text": self.text, "citations": self.citations, "support": self.support, "supported": self.supported,
                "evidence": self.evidence, "unsupported": self.unsupported}


@dataclass
class Draft:
    """What the composer hands on: the reading line, cited paragraphs, sources and next lines."""

    question: str
    abstained: bool
    reading: str
    paragraphs: list[list[AnswerSentence]]
    sources: list[dict]
    next_lines: list[str]

    @property
    def sentences(self) -> list[AnswerSentence]:
        return [s for p in self.paragraphs for s in p]


def reading_line(question: str, notes: list[dict]) -> str:
    """One line on how the question is read: the question restated plus the themes drawn on."""
    q = " ".join(question.strip().split()).rstrip("?.! ")
    q = q[0].lower() + q[1:] if q[:1].isupper() and not q[:2].isupper() else q
    tags: list[str] = []
    for note in notes:
        for tag in note["tags"]:
            if tag not in tags:
                tags.append(tag)
    themes = ", ".join(tags[:4])
    return f"This reads the question as: {q}? It answers from {len(notes)} notes on {themes}." if themes else f"This reads the question as: {q}?"


def _candidates(index: NoteIndex, rows: list[int]) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(note row, sentence row) for every body sentence of the given notes, and their vectors."""
    pairs = [(r, s) for r in rows for s in index.sentence_rows(r)]
    matrix = index.sentence_matrix()
    vectors = matrix[[s for _, s in pairs]] if pairs else np.zeros((0, matrix.shape[1]), np.float32)
    return pairs, vectors


# Sentences that lean on a previous one ("This study...", "They...") read badly out of context.
_ANAPHORA = re.compile(r"^(this|these|that|those|such|it|its|they|their|them|he|she|the (study|paper|authors|critics|team|result|finding|work|method|approach))\b", re.IGNORECASE)


def standalone_penalty(sentence: str) -> float:
    return 0.12 if _ANAPHORA.match(sentence) else 0.0


def _lexical(question: str, sentence: str) -> float:
    q = set(content_words(question))
    return len(q & set(content_words(sentence))) / len(q) if q else 0.0


def select_sentences(question: str, qv: np.ndarray, index: NoteIndex, hits: list[Hit], limit: int) -> list[tuple[int, int]]:
    """Maximal marginal relevance over the retrieved notes' sentences, at most PER_NOTE per note."""
    rows = [index.row(h.id) for h in hits]
    pairs, vectors = _candidates(index, rows)
    if not pairs:
        return []
    texts = [index.notes[r].sentences[s - index.sentence_rows(r).start] for r, s in pairs]
    rank_bonus = {r: 0.08 / (1 + i) for i, r in enumerate(rows)}
    relevance = vectors @ qv + np.array([0.15 * _lexical(question, t) + rank_bonus[r] - standalone_penalty(t) for (r, _), t in zip(pairs, texts)])
    chosen: list[int] = []
    per_note: dict[int, int] = {}
    # Every note that is on topic gets its best sentence first, so the answer covers the evidence.
    for r in rows:
        idx = [i for i, (rr, _) in enumerate(pairs) if rr == r]
        best = max(idx, key=lambda i: relevance[i])
        if vectors[best] @ qv >= NOTE_FLOOR and len(chosen) < limit:
            chosen.append(best)
            per_note[r] = 1
    while len(chosen) < limit:
        best_i, best_val = None, -np.inf
        for i, (r, _) in enumerate(pairs):
            if i in chosen or per_note.get(r, 0) >= PER_NOTE or r not in per_note:
                continue
            redundancy = max(float(vectors[i] @ vectors[j]) for j in chosen) if chosen else 0.0
            value = MMR_LAMBDA * relevance[i] - (1 - MMR_LAMBDA) * redundancy
            if value > best_val:
                best_i, best_val = i, value
        if best_i is None or relevance[best_i] < NOTE_FLOOR:
            break
        chosen.append(best_i)
        per_note[pairs[best_i][0]] = per_note.get(pairs[best_i][0], 0) + 1
    return [pairs[i] for i in chosen]


def group_by_theme(index: NoteIndex, note_rows: list[int]) -> list[list[int]]:
    """Single-link grouping of notes by vector similarity, keeping retrieval order within groups."""
    groups: list[list[int]] = []
    vectors = index.note_matrix()
    for r in note_rows:
        home = next((g for g in groups if max(float(vectors[r] @ vectors[o]) for o in g) >= THEME_LINK), None)
        if home is None:
            groups.append([r])
        else:
            home.append(r)
    return groups


def next_lines(index: NoteIndex, qv: np.ndarray, cited: list[str], hits: list[Hit], n: int) -> list[str]:
    """Follow-up questions: titles of notes linked from the cited ones, then of nearby notes."""
    cited_set = set(cited)
    scores = index.note_matrix() @ qv
    linked = {rid for cid in cited for rid in (index.note(cid).related if index.note(cid) else [])}
    linked = [rid for rid in linked if rid not in cited_set and index.row(rid) is not None]
    linked.sort(key=lambda rid: -scores[index.row(rid)])
    # Only the nearest few notes can be needed: a full sort plus list scans was quadratic at 100k notes.
    depth = min(len(scores), n + len(cited_set) + len(hits) + 8)
    nearest = np.argpartition(-scores, depth - 1)[:depth] if depth else []
    nearby = [h.id for h in hits] + [index.notes[r].id for r in sorted(nearest, key=lambda r: -scores[r])]
    titles: list[str] = []
    for nid in linked[: max(n - 1, 1)] + nearby:
        title = index.note(nid).title
        if nid not in cited_set and title not in titles:
            titles.append(title)
            if len(titles) == n:
                break
    return titles


def compose(question: str, qv: np.ndarray, index: NoteIndex, hits: list[Hit], settings: Settings, abstain: bool) -> Draft:
    if abstain or not hits:
        nearest = [index.notes[r].title for r in top_rows(index.note_matrix() @ qv, settings.next_lines)]
        reading = reading_line(question, [])
        return Draft(question, True, reading, [], [], nearest)
    picked = select_sentences(question, qv, index, hits, settings.max_answer_sentences)
    note_rows = list(dict.fromkeys(r for r, _ in picked))
    paragraphs: list[list[AnswerSentence]] = []
    for g, group in enumerate(group_by_theme(index, note_rows)):
        paragraph = []
        for r in group:
            rows = sorted(s for rr, s in picked if rr == r)  # keep the note's own order: finding, then implication
            note = index.notes[r]
            for s in rows:
                paragraph.append(AnswerSentence(note.sentences[s - index.sentence_rows(r).start], [note.id]))
        if paragraph:
            paragraph[0].lead = CONNECTIVES[min(g, len(CONNECTIVES) - 1)]
            paragraphs.append(paragraph)
    cited = [index.notes[r].id for r in note_rows]
    sources = [{"id": i, "title": index.note(i).title, "summary": index.note(i).summary} for i in cited]
    listing = [{"tags": index.note(i).tags} for i in cited]
    return Draft(question, False, reading_line(question, listing), paragraphs, sources,
                 next_lines(index, qv, cited, hits, settings.next_lines))


def lead_in(sentence: AnswerSentence) -> str:
    """The sentence as shown, with its connective: the connective lowercases the sentence's first word."""
    if not sentence.lead:
        return sentence.text
    first = sentence.text.split(" ", 1)[0]
    # Only ordinary words are lowercased after a connective; names and acronyms keep their case.
    common = first.lower() in STOPWORDS or first.lower() in ("for", "when", "while", "because", "although", "post-training", "training")
    text = sentence.text[:1].lower() + sentence.text[1:] if common else sentence.text
    return sentence.lead + text
