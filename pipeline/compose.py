"""The default composer: a query-focused extractive synthesis that needs no LLM.

It picks note sentences that answer the question (relevance with a redundancy penalty, i.e.
maximal marginal relevance, Carbonell & Goldstein 1998), groups them into paragraphs by theme,
orders the paragraphs as an argument, and cites every sentence to the note it comes from. The
only words it adds are a reading of the question and short connectives: never a factual claim.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import Stemmer

from .index import NoteIndex
from .retrieve import Hit, top_rows
from .coverage import names, topic_words
from .settings import Settings
from .text import STOPWORDS

THEME_LINK = 0.45  # notes whose vectors are this similar share a paragraph
SOURCE_NAME_NOTES = 2  # a paper's name is mentioned by its own note and perhaps one that contrasts with it
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

    decided_by: str = ""  # which grounding stage set the support: quote, features or judge

    def to_json(self) -> dict:
        return {"text": self.text, "citations": self.citations, "support": self.support, "supported": self.supported,
                "evidence": self.evidence, "unsupported": self.unsupported, "decided_by": self.decided_by}


@dataclass
class Draft:
    """What the composer hands on: the reading line, cited paragraphs, sources and next lines."""

    question: str
    abstained: bool
    reading: str
    paragraphs: list[list[AnswerSentence]]
    sources: list[dict]
    next_lines: list[str]
    not_covered: list[str] = field(default_factory=list)  # parts of the question no note speaks to

    @property
    def sentences(self) -> list[AnswerSentence]:
        return [s for p in self.paragraphs for s in p]


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
    summary = [Passage(row, t, v, True, i, _stems(t)) for i, (t, v) in enumerate(zip(note.heads[1:], heads[1:]))]
    return summary + [Passage(row, t, v, False, len(summary) + i, _stems(t)) for i, (t, v) in enumerate(zip(note.sentences, body))]


# Sentences that lean on a previous one ("This study...", "They...") read badly out of context.
_ANAPHORA = re.compile(r"^(this|these|that|those|such|it|its|they|their|them|he|she|the (study|paper|authors|critics|team|result|finding|work|method|approach))\b", re.IGNORECASE)
_STEMMER = Stemmer.Stemmer("english")


def standalone_penalty(sentence: str) -> float:
    return 0.12 if _ANAPHORA.match(sentence) else 0.0


def _compound_parts(stems: frozenset[str]) -> frozenset[str]:
    return frozenset(part for w in stems if "-" in w for part in w.split("-") if part)


def _stems(text: str) -> frozenset[str]:
    # A hyphenated compound is stemmed part by part ("sleeper-agents" -> "sleeper-agent"), so its parts can be
    # matched on their own.
    return frozenset("-".join(_STEMMER.stemWords(w.split("-"))) if "-" in w else _STEMMER.stemWord(w)
                     for w in topic_words(text))


def passage_relevance(q: frozenset[str], qv: np.ndarray, passages: list[Passage], settings: Settings,
                      idf: dict[str, float]) -> np.ndarray:
    """How well each passage answers the question (its stemmed topic words `q`, its vector `qv`): cosine,
    plus the idf-weighted share of the question's topic words it uses (cosine alone favours sentences that
    merely sound like the field), less a penalty for sentences that lean on a previous one."""
    if not passages:
        return np.zeros(0)
    cos = np.stack([p.vector for p in passages]) @ qv
    weight = {w: idf.get(w, 1.0) for w in q}
    total = sum(weight.values())
    lexical = np.array([sum(weight[w] for w in q & p.stems) / total if total else 0.0 for p in passages])
    penalty = np.array([standalone_penalty(p.text) for p in passages])
    return cos + settings.lexical_weight * lexical - penalty


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
    """One retrieved note's passages, ranked for this question."""

    row: int
    passages: list[Passage]
    relevance: np.ndarray
    title_cos: float
    source_match: float  # share of the question's names found in the note's paper titles and authors
    primary: bool = True  # among the `k` retrieved notes, not only reachable through links
    question_words: frozenset[str] = frozenset()  # the question's topic words, stemmed
    coverage: float = 0.0  # idf-weighted share of the question's topic words used anywhere in the note
    part_relevance: tuple[np.ndarray, ...] = ()  # each passage's relevance to each part of a compound question

    @property
    def best(self) -> float:
        return float(self.relevance.max()) if len(self.relevance) else -1.0

    def ranked(self) -> list[int]:
        return list(np.argsort(-self.relevance, kind="stable"))


def gather(question: str, qv: np.ndarray, index: NoteIndex, hits: list[Hit], settings: Settings,
           parts: Sequence[tuple[str, np.ndarray]] = ()) -> list[NoteEvidence]:
    """Every retrieved note's passages with their relevance, best note first; notes past the first
    `settings.k` are marked as reachable only through links."""
    rows = [index.row(h.id) for h in hits]
    cited = [" ".join(f"{s.get('title', '')} {s.get('authors', '')}" for s in index.notes[r].sources).lower() for r in rows]
    # Only names that single out a paper count: "RLHF" is in half the sources, "Sleeper Agents" in one. A name
    # most candidate notes discuss ("DPO") is a method, not a way of pointing at one paper.
    texts = [index.notes[r].text.lower() for r in rows]
    asked = [n for n in dict.fromkeys(n.lower() for n in names(question))
             if sum(n in c for c in cited) == 1 and sum(n in t for t in texts) <= SOURCE_NAME_NOTES]
    passages = {row: note_passages(index, row) for row in rows}
    corpus_idf = local_idf([p for ps in passages.values() for p in ps])
    unseen = corpus_idf.pop("")  # a word no passage uses weighs the most
    # When notes are compared by the question words they use, a hyphenated compound counts as its parts and
    # is used where all its parts are: the question says "sleeper-agent", its note "Sleeper Agents".
    asked_stems = _stems(question)
    idf = {w: corpus_idf.get(w, unseen) for w in asked_stems | _compound_parts(asked_stems)}
    part_stems = [_stems(text) for text, _ in parts]
    part_idf = [{w: corpus_idf.get(w, unseen) for w in stems} for stems in part_stems]
    notes = []
    for row, sources in zip(rows, cited):
        title_cos = float(index.head_matrix(row)[0] @ qv)
        source_match = sum(n in sources for n in asked) / len(asked) if asked else 0.0
        relevance = passage_relevance(asked_stems, qv, passages[row], settings, idf)
        said = frozenset().union(*(p.stems | _compound_parts(p.stems) for p in passages[row]))
        used = [w for w in idf if w in said or ("-" in w and _compound_parts(frozenset([w])) <= said)]
        coverage = sum(idf[w] for w in used) / total if (total := sum(idf.values())) else 0.0
        per_part = tuple(passage_relevance(stems, pv, passages[row], settings, pi)
                         for stems, (_, pv), pi in zip(part_stems, parts, part_idf))
        notes.append(NoteEvidence(row, passages[row], relevance, title_cos, source_match, len(notes) < settings.k,
                                  frozenset(idf), coverage, per_part))
    # Researchers name papers by title or first author ("the Sleeper Agents backdoors", "Korbak et al."):
    # a note whose source carries the question's names is the one asked about.
    # Retrieval ranked whole notes (BM25 and dense, fused); its order is a prior beside the best sentence.
    rank = {row: i for i, row in enumerate(rows)}
    # A note whose title question matches the question closely is its direct answer (question-to-question
    # similarity is what the embedder was trained on), whatever sentence scores best elsewhere.
    return sorted(notes, key=lambda n: -(n.best + settings.title_weight * n.title_cos + settings.source_weight * n.source_match
                                         + settings.coverage_weight * n.coverage
                                         + settings.rank_weight / (1 + rank[n.row])
                                         + settings.title_lead_bonus * (n.title_cos >= settings.title_lead)))


def _novel(p: Passage, chosen: list[Passage], settings: Settings) -> bool:
    return all(float(p.vector @ c.vector) < settings.redundancy_cosine for c in chosen)


def select_passages(notes: list[NoteEvidence], index: NoteIndex, settings: Settings) -> list[list[Passage]]:
    """The lead note's direct answer, then only the evidence that is close to it in relevance.

    The lead note gives its summary (the note's own answer to its title question) when its title
    matches the question, else its most relevant sentence first; then its other sentences within
    `sentence_margin` of its best. Another note joins only if its best passage is within
    `note_margin` of the lead's (the lead's counted at most `relevance_cap`: one near-verbatim match in the
    lead note must not shut out the rest of a broad question), and gives its best one or two. Answers are as long as the evidence is.
    """
    everything, notes = notes, [n for n in notes if n.primary]
    if not notes:
        return []
    lead = notes[0]
    top = lead.best
    order = lead.ranked()
    picked: list[Passage] = []
    if lead.title_cos >= settings.title_match:
        picked += [p for p in lead.passages if p.in_summary]
    first = lead.passages[order[0]]
    if first not in picked:
        # A note whose title question is the question gives its own answer (the summary) first.
        picked.insert(len(picked) if lead.title_cos >= settings.title_lead else 0, first)
    for i in order[1:]:
        p = lead.passages[i]
        if len(picked) >= settings.lead_sentences:
            break
        if lead.relevance[i] >= top - settings.sentence_margin and p not in picked and _novel(p, picked, settings):
            picked.append(p)
    picked += following_passages(lead, picked, settings)
    picked += completing_passages(lead, picked, settings)
    picked += part_passages(lead, picked, settings)
    groups = [picked]
    bar = min(top, settings.relevance_cap)
    for note in notes[1:]:
        if len(groups) >= settings.max_notes or note.best < max(bar - settings.note_margin, settings.note_floor):
            continue
        mine: list[Passage] = []
        chosen = [p for g in groups for p in g]
        for i in note.ranked()[:3]:
            p = note.passages[i]
            good = note.relevance[i] >= max(note.best - 0.05, top - settings.sentence_margin) or not mine
            if good and len(mine) < settings.other_sentences and _novel(p, chosen + mine, settings):
                mine.append(p)
        if mine:
            groups.append(mine)
    return groups + linked_evidence(everything, groups, index, settings)


def following_passages(lead: NoteEvidence, picked: list[Passage], settings: Settings) -> list[Passage]:
    """The body sentence right after each of the lead's `follow_sentences` best picks, if within
    `follow_margin` of the lead's best: a note states a finding and gives its reason, size or name in the
    next sentence ("... may overestimate robustness. Knowledge acquired in pretraining is harder to remove")."""
    extra: list[Passage] = []
    for p in picked[:settings.follow_sentences]:
        i = p.position + 1
        if p.in_summary or i >= len(lead.passages):
            continue
        nxt = lead.passages[i]
        if (lead.relevance[i] >= lead.best - settings.follow_margin and nxt not in picked and nxt not in extra
                and _novel(nxt, picked + extra, settings)):
            extra.append(nxt)
    return extra


def part_passages(lead: NoteEvidence, picked: list[Passage], settings: Settings) -> list[Passage]:
    """For a compound question ("which models were attacked, and how was harm judged?"), the lead note's
    best sentence for each part, and its runner-up if within `part_margin`, unless already picked."""
    extra: list[Passage] = []
    for relevance in lead.part_relevance:
        for i in list(np.argsort(-relevance, kind="stable"))[:settings.part_sentences]:
            p = lead.passages[i]
            close = relevance[i] >= relevance.max() - settings.part_margin
            if close and p not in picked and p not in extra and _novel(p, picked + extra, settings):
                extra.append(p)
    return extra


def completing_passages(lead: NoteEvidence, picked: list[Passage], settings: Settings) -> list[Passage]:
    """The lead note's sentences that bring in a word of the question no picked sentence uses (a question
    asking for two figures needs the sentence with the second), best first, while still within
    `completion_margin` of the lead's best: the parts of a question often sit in neighbouring sentences."""
    asked = lead.question_words
    covered = set().union(*(p.stems & asked for p in picked))
    extra: list[Passage] = []
    for i in lead.ranked():
        p = lead.passages[i]
        if len(picked) + len(extra) >= settings.lead_sentences + settings.completing_sentences:
            break
        if ((p.stems & asked) - covered and lead.relevance[i] >= lead.best - settings.completion_margin
                and p not in picked and _novel(p, picked + extra, settings)):
            extra.append(p)
            covered |= p.stems & asked
    return extra


def linked_evidence(notes: list[NoteEvidence], groups: list[list[Passage]], index: NoteIndex,
                    settings: Settings) -> list[list[Passage]]:
    """For a broad question (at least `link_min_notes` notes already in the answer): notes outside the
    margin that a note of the answer links to (`related`) and that still bear on the question (best passage >= `note_floor`, within `link_margin` of the lead): the corpus's own links say
    they belong to the same argument. Each gives its single best passage."""
    if len(groups) < settings.link_min_notes:  # a focused question: links would only add tangents
        return []
    top = min(next(n.best for n in notes if n.primary), settings.relevance_cap)
    included = {g[0].note_row for g in groups}
    extra: list[list[Passage]] = []
    changed = True
    while changed and len(groups) + len(extra) < settings.max_notes:
        changed = False
        linked = {r for row in included for rid in index.notes[row].related if (r := index.row(rid)) is not None}
        for note in notes:
            if (note.row in linked and note.row not in included and note.best >= max(settings.note_floor, top - settings.link_margin)
                    and len(groups) + len(extra) < settings.max_notes):
                extra.append([note.passages[note.ranked()[0]]])
                included.add(note.row)
                changed = True
    return extra


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


def compose(question: str, qv: np.ndarray, index: NoteIndex, hits: list[Hit], settings: Settings,
            abstain: bool, gaps: list[str] | None = None, k: int | None = None,
            parts: Sequence[tuple[str, np.ndarray]] = ()) -> Draft:
    """A cited answer from the retrieved notes, best first: the first `k` (default `settings.k`) may lead or
    join by relevance, the rest only through links. `gaps` are the parts of the question no note covers;
    `parts` the separate asks of a compound question, with their vectors."""
    gaps = gaps or []
    settings = replace(settings, k=k) if k else settings
    if abstain or not hits:
        nearest = [index.notes[r].title for r in top_rows(index.note_matrix() @ qv, settings.next_lines)]
        return Draft(question, True, reading_line(question, [], gaps), [], [], nearest, gaps)
    groups = select_passages(gather(question, qv, index, hits, settings, parts), index, settings)
    lead_row = groups[0][0].note_row
    paragraphs = [[_sentence(index, p) for p in groups[0]]]
    by_row = {g[0].note_row: sorted(g, key=lambda p: p.position) for g in groups[1:]}
    for g, theme in enumerate(group_by_theme(index, list(by_row))):
        paragraph = [_sentence(index, p) for row in theme for p in by_row[row]]
        paragraph[0].lead = CONNECTIVES[min(g + 1, len(CONNECTIVES) - 1)]
        paragraphs.append(paragraph)
    cited = [index.notes[lead_row].id] + [index.notes[r].id for r in by_row]
    sources = [{"id": i, "title": index.note(i).title, "summary": index.note(i).summary} for i in cited]
    listing = [{"tags": index.note(i).tags} for i in cited]
    return Draft(question, False, reading_line(question, listing, gaps, index.notes[lead_row].title), paragraphs, sources,
                 next_lines(index, qv, cited, hits, settings.next_lines), gaps)


def _sentence(index: NoteIndex, p: Passage) -> AnswerSentence:
    return AnswerSentence(p.text, [index.notes[p.note_row].id])


def lead_in(sentence: AnswerSentence) -> str:
    """The sentence as shown, with its connective: the connective lowercases the sentence's first word."""
    if not sentence.lead:
        return sentence.text
    first = sentence.text.split(" ", 1)[0]
    # Only ordinary words are lowercased after a connective; names and acronyms keep their case.
    common = first.lower() in STOPWORDS or first.lower() in ("for", "when", "while", "because", "although", "post-training", "training")
    text = sentence.text[:1].lower() + sentence.text[1:] if common else sentence.text
    return sentence.lead + text
