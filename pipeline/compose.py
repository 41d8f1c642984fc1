"""The default composer: an extractive, cited answer that needs no LLM.

Every sentence of the candidate notes is scored by one fitted ranking (`pipeline/rank.py`: a logistic
model over named terms, fitted on the tune split). The brief is its top sentences (at most
`brief_sentences` and `brief_words`), the one most likely to hold the asked-for number, name or outcome
first; the evidence is every other sentence above the fitted cut-off, grouped by note under the note's
title. The composer adds only a reading of the question, the notes' titles and, when nothing answers
the question, a line saying so: never a factual claim, and no connective asserting how notes relate.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .index import NoteIndex
from .rank import Ranker, asks_quantity, has_number, relevance, sentence_terms
from .retrieve import Hit, top_rows
from .coverage import spelled_out
from .settings import Settings
from .text import acronyms, names_as_written, topic_stems, word_count

SOURCE_NAME_NOTES = 2  # a paper's name is mentioned by its own note and perhaps one that contrasts with it


@dataclass
class AnswerSentence:
    text: str
    citations: list[str]
    support: float | None = None
    supported: bool | None = None
    evidence: list[dict] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    decided_by: str = ""  # which grounding stage set the support: quote, features or judge

    def to_json(self) -> dict:
        return {"text": self.text, "citations": self.citations, "support": self.support, "supported": self.supported,
                "evidence": self.evidence, "unsupported": self.unsupported, "decided_by": self.decided_by}


@dataclass
class Draft:
    """What the composer hands on: the reading line, the brief (the first paragraph), the evidence
    (one paragraph per note, under `headings`), sources and next lines."""

    question: str
    abstained: bool
    reading: str
    paragraphs: list[list[AnswerSentence]]
    sources: list[dict]
    next_lines: list[str]
    not_covered: list[str] = field(default_factory=list)  # parts of the question no note speaks to
    headings: list[str] = field(default_factory=list)  # per evidence paragraph (paragraphs[1:]): its note's title, or ""
    headline: str = ""  # the first line when the notes do not answer the question: what is missing, what is closest
    closest: bool = False  # the notes do not answer it: the brief is only the nearest note's closest sentences

    @property
    def sentences(self) -> list[AnswerSentence]:
        return [s for p in self.paragraphs for s in p]

    @property
    def brief(self) -> list[int]:
        """Indices into `sentences` of the brief: the first paragraph."""
        return list(range(len(self.paragraphs[0]))) if self.paragraphs else []


def reading_line(question: str, notes: list[dict], gaps: list[str] | None = None, lead_title: str = "") -> str:
    """How the question is read and what the notes do and do not cover; never a claim about the findings."""
    gaps = gaps or []
    missing = _listing(gaps)
    if not notes:
        if gaps:
            return f"This reads the question as one about {missing}, which none of the notes covers."
        return "This reads the question as one the notes do not cover: no note is close enough to answer it."
    tags: list[str] = []
    for note in notes:
        tags += [t for t in note["tags"] if t not in tags]
    lead = f"; the notes answer it mainly through \u201c{lead_title}\u201d" if lead_title else ""
    more = f", with {len(notes) - 1} more note{'s' if len(notes) > 2 else ''}" if len(notes) > 1 else ""
    text = f"This reads the question as one about {_listing(tags[:4])}{lead}{more}."
    if gaps:
        text += f" The notes do not cover {missing}, so that part of the question is left open."
    return text


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


@dataclass(frozen=True, eq=False)  # identity, not field equality: two passages may repeat the same text
class Passage:
    """A quotable sentence of a note: one of its summary sentences or body sentences."""

    note_row: int
    text: str
    vector: np.ndarray
    in_summary: bool
    position: int  # summary sentences first, then the body's, in the note's own order
    stems: frozenset[str]  # its topic words, stemmed: computed once, compared with every question word


def note_passages(index: NoteIndex, row: int) -> list[Passage]:
    note = index.notes[row]
    heads = index.head_matrix(row)
    body = index.sentence_vectors[index.sentence_rows(row).start:index.sentence_rows(row).stop]
    summary = [Passage(row, t, v, True, i, topic_stems(t)) for i, (t, v) in enumerate(zip(note.heads[1:], heads[1:]))]
    return summary + [Passage(row, t, v, False, len(summary) + i, topic_stems(t)) for i, (t, v) in enumerate(zip(note.sentences, body))]


def _compound_parts(stems: frozenset[str]) -> frozenset[str]:
    return frozenset(part for w in stems if "-" in w for part in w.split("-") if part)


def _with_acronyms(text: str, said: frozenset[str], notes_text: str) -> frozenset[str]:
    """The text's stemmed topic words, where a phrase spelling out an acronym the passages use stands for that
    acronym ('reinforcement learning from human feedback' is 'rlhf' when the notes write RLHF), and an acronym
    the passages only spell out stands for their words ('CAI' is 'constitutional ai')."""
    stems = topic_stems(text)
    for acronym, phrase in spelled_out(text).items():
        if len(acronym) >= 3 and acronym in said and acronym not in stems:
            stems = (stems - topic_stems(phrase)) | {acronym}
    for token in acronyms(text):
        if token.lower() not in said and token.lower() in stems:
            phrase = spelled_out(notes_text, len(token) + 2, names_only=True).get(token.lower())
            if phrase:
                stems = (stems - {token.lower()}) | topic_stems(phrase)
    return stems


def word_share(q: frozenset[str], passages: list[Passage], idf: dict[str, float]) -> np.ndarray:
    """Per passage: the idf-weighted share of the question's stemmed topic words `q` it uses
    (sum of idf(w) over w in q and in the passage, over the sum over q)."""
    weight = {w: idf.get(w, 1.0) for w in q}
    total = sum(weight.values())
    return np.array([sum(weight[w] for w in q & p.stems) / total if total else 0.0 for p in passages])


def local_idf(passages: list[Passage]) -> dict[str, float]:
    """Inverse document frequency over the retrieved passages: a question word that every passage uses
    ('RLHF') says less about which passage answers it than one only a few use ('triggers')."""
    df: dict[str, int] = {}
    for p in passages:
        for w in p.stems:
            df[w] = df.get(w, 0) + 1
    n = len(passages)
    return {w: float(np.log((n + 1) / (c + 0.5))) for w, c in df.items()} | {"": float(np.log(n + 1))}


@dataclass(frozen=True)
class NoteEvidence:
    """One candidate note's passages and their feature rows (columns: rank.TERMS)."""

    row: int
    passages: list[Passage]
    terms: np.ndarray


def _asked_names(question: str, index: NoteIndex, rows: list[int]) -> tuple[list[str], list[str]]:
    """The question's names that single out one candidate note's paper, and each note's sources as text.
    "Sleeper Agents" is in one note's sources; a name most candidate notes discuss ("DPO") is a method."""
    cited = [" ".join(f"{s.get('title', '')} {s.get('authors', '')}" for s in index.notes[r].sources).lower() for r in rows]
    texts = [index.notes[r].text.lower() for r in rows]
    asked = [n for n in dict.fromkeys(n.lower() for n in names_as_written(question))
             if sum(n in c for c in cited) == 1 and sum(n in t for t in texts) <= SOURCE_NAME_NOTES]
    return asked, cited


def gather(question: str, qv: np.ndarray, index: NoteIndex, hits: list[Hit],
           parts: Sequence[tuple[str, np.ndarray]] = ()) -> list[NoteEvidence]:
    """Every candidate note's passages with their feature rows, in retrieval order."""
    rows = [index.row(h.id) for h in hits]
    asked, cited = _asked_names(question, index, rows)
    passages = {row: note_passages(index, row) for row in rows}
    corpus_idf = local_idf([p for ps in passages.values() for p in ps])
    unseen = corpus_idf.pop("")  # a word no passage uses weighs the most
    # When notes are compared by the question words they use, a hyphenated compound counts as its parts and
    # is used where all its parts are: the question says "sleeper-agent", its note "Sleeper Agents".
    said = frozenset().union(*(p.stems for ps in passages.values() for p in ps))
    notes_text = "\n".join(p.text for ps in passages.values() for p in ps)
    asks = [(_with_acronyms(question, said, notes_text), qv)] + [(_with_acronyms(text, said, notes_text), pv) for text, pv in parts]
    idf = {w: corpus_idf.get(w, unseen) for stems, _ in asks for w in stems | _compound_parts(stems)}
    relevance = {}  # row -> (cosine, words, relevance to each ask)
    for row in rows:
        ps = passages[row]
        matrix = np.stack([p.vector for p in ps]) if ps else np.zeros((0, len(qv)))
        per_ask = [matrix @ v + word_share(s, ps, idf) for s, v in asks]
        relevance[row] = (matrix @ qv, word_share(asks[0][0], ps, idf), per_ask)
    best_ask = [max((float(relevance[r][2][j].max()) for r in rows if len(passages[r])), default=0.0) for j in range(len(asks))]
    titles = {row: float(index.head_matrix(row)[0] @ qv) for row in rows}
    question_info = {"best": best_ask[0], "quantity": asks_quantity(question), "best_title": max(titles.values(), default=0.0)}
    total = sum(idf[w] for w in asks[0][0] | _compound_parts(asks[0][0]))
    notes = []
    for rank, (row, sources) in enumerate(zip(rows, cited)):
        ps = passages[row]
        cos, words, per_ask = relevance[row]
        in_note = frozenset().union(*(p.stems | _compound_parts(p.stems) for p in ps))
        used = [w for w in asks[0][0] | _compound_parts(asks[0][0])
                if w in in_note or ("-" in w and _compound_parts(frozenset([w])) <= in_note)]
        part = np.max(np.stack([r - b for r, b in zip(per_ask, best_ask)]), axis=0) if len(ps) else np.zeros(0)
        note = {"title": titles[row], "coverage": sum(idf[w] for w in used) / total if total else 0.0,
                "rank": rank, "source": sum(n in sources for n in asked) / len(asked) if asked else 0.0,
                "in_summary": np.array([p.in_summary for p in ps], dtype=bool),
                "first_body": next((i for i, p in enumerate(ps) if not p.in_summary), len(ps)),
                "has_number": np.array([has_number(p.text) for p in ps], dtype=bool), "part": part}
        notes.append(NoteEvidence(row, ps, sentence_terms(cos, words, note, question_info)))
    return notes


def _novel(p: Passage, chosen: list[Passage], settings: Settings) -> bool:
    return all(float(p.vector @ c.vector) < settings.redundancy_cosine for c in chosen)


@dataclass(frozen=True)
class Choice:
    """What the ranking chose: the brief (best first) and the evidence (by note, in the note's order)."""

    brief: list[Passage]
    evidence: list[list[Passage]]
    top: float  # the best sentence's score: below the ranker's answer_floor, nothing answers the question


def choose(notes: list[NoteEvidence], scores: list[np.ndarray], ranker: Ranker, settings: Settings,
           only_best_note: bool = False) -> Choice:
    """The brief: the best sentence, then the next best at or above `ranker.brief_cut` while within
    `brief_sentences` and `brief_words`. The evidence: other sentences at or above `ranker.evidence_cut`, up
    to `evidence_sentences`, grouped by note (the note with the best sentence first); from a note the brief does
    not quote, only sentences at or above `ranker.brief_cut`. Near-repeats of a chosen
    sentence are skipped. `only_best_note`: the brief comes from the best note alone and there is no evidence."""
    flat = [(p, float(s)) for n, sc in zip(notes, scores) for p, s in zip(n.passages, sc)]
    order = sorted(range(len(flat)), key=lambda i: -flat[i][1])
    if not order:
        return Choice([], [], 0.0)
    top_passage, top = flat[order[0]]
    if only_best_note:
        order = [i for i in order if flat[i][0].note_row == top_passage.note_row]
    brief: list[Passage] = []
    words = 0
    for i in order:
        p, s = flat[i]
        if len(brief) >= settings.brief_sentences or (brief and s < ranker.brief_cut):
            break
        if brief and words + word_count(p.text) > settings.brief_words:
            continue
        if _novel(p, brief, settings):
            brief.append(p)
            words += word_count(p.text)
    extra: list[Passage] = []
    brief_notes = {p.note_row for p in brief}
    for i in order if not only_best_note else []:
        p, s = flat[i]
        if s < ranker.evidence_cut or len(extra) >= settings.evidence_sentences:
            break
        # a note the brief does not quote must be as strong as a brief sentence to bring evidence
        if p not in brief and (p.note_row in brief_notes or s >= ranker.brief_cut) and _novel(p, brief + extra, settings):
            extra.append(p)
    rows = list(dict.fromkeys(p.note_row for p in extra))
    evidence = [sorted((p for p in extra if p.note_row == r), key=lambda p: p.position) for r in rows]
    return Choice(brief, evidence + ([] if only_best_note else also_relevant(notes, brief + extra, ranker, settings)), top)


def also_relevant(notes: list[NoteEvidence], chosen: list[Passage], ranker: Ranker, settings: Settings) -> list[list[Passage]]:
    """A broad question is answered by several notes: each note not yet cited whose best sentence speaks to the
    question at `ranker.also_cut` or above (cosine + words; fitted so few single-note questions gain a note that
    does not answer them) gives that sentence, up to `max_notes` notes in all."""
    cited = {p.note_row for p in chosen}
    extra: list[list[Passage]] = []
    for note in notes:
        rel = relevance(note.terms)
        if note.row in cited or not len(rel) or rel.max() < ranker.also_cut or len(cited) + len(extra) >= settings.max_notes:
            continue
        best = note.passages[int(np.argmax(rel))]
        if _novel(best, chosen, settings):
            extra.append([best])
    return extra


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


def candidate_notes(question: str, qv: np.ndarray, index: NoteIndex, hits: list[Hit], k: int,
                    parts: Sequence[tuple[str, np.ndarray]] = (), rare: frozenset[str] = frozenset()) -> list[NoteEvidence]:
    """The first `k` hits, later ones that one of those links to (`related`) and those in `rare`, with their
    feature rows."""
    linked = {rid for h in hits[:k] for rid in index.note(h.id).related}
    return gather(question, qv, index, hits[:k] + [h for h in hits[k:] if h.id in linked or h.id in rare], parts)


def compose(question: str, qv: np.ndarray, index: NoteIndex, hits: list[Hit], settings: Settings, ranker: Ranker,
            abstain: bool, gaps: list[str] | None = None, k: int | None = None,
            parts: Sequence[tuple[str, np.ndarray]] = (), subject_gap: bool = False, rare: frozenset[str] = frozenset()) -> Draft:
    """A cited answer from the retrieved notes: the first `k` (default `settings.k`) are candidates, and the
    rest of `hits` only if one of those links to them. `gaps` are the parts of the question no note covers;
    with `subject_gap` the question's main subject is one of them, so the answer says so first and shows
    only the nearest note's closest sentences, as it does when no sentence scores above the fitted floor.
    `parts` are the separate asks of a compound question, with their vectors."""
    gaps = gaps or []
    k = k or settings.k
    if abstain or not hits:
        nearest = [index.notes[r].title for r in top_rows(index.note_matrix() @ qv, settings.next_lines)]
        return Draft(question, True, reading_line(question, [], gaps), [], [], nearest, gaps)
    notes = candidate_notes(question, qv, index, hits, k, parts, rare)
    scores = [ranker.score(n.terms) for n in notes]
    top = max((float(s.max()) for s in scores if len(s)), default=0.0)
    closest = subject_gap or top < ranker.answer_floor
    choice = choose(notes, scores, ranker, settings, only_best_note=closest)
    lead_row = choice.brief[0].note_row
    paragraphs = [[_sentence(index, p) for p in choice.brief]] + [[_sentence(index, p) for p in g] for g in choice.evidence]
    headings = [index.notes[g[0].note_row].title for g in choice.evidence]
    cited = list(dict.fromkeys([lead_row] + [p.note_row for p in choice.brief] + [g[0].note_row for g in choice.evidence]))
    cited = [index.notes[r].id for r in cited]
    sources = [{"id": i, "title": index.note(i).title, "summary": index.note(i).summary} for i in cited]
    listing = [{"tags": index.note(i).tags} for i in cited]
    headline = ""
    if closest:
        missing = f"do not cover {_listing(gaps)}" if subject_gap and gaps else "do not answer this directly"
        headline = f"The notes {missing}; the closest they come is \u201c{index.notes[lead_row].title}\u201d:"
    return Draft(question, False, reading_line(question, listing, gaps, index.notes[lead_row].title), paragraphs, sources,
                 next_lines(index, qv, cited, hits, settings.next_lines), gaps, headings, headline, closest)


def _sentence(index: NoteIndex, p: Passage) -> AnswerSentence:
    return AnswerSentence(p.text, [index.notes[p.note_row].id])
