"""The answer chain as a LangChain runnable: retrieve -> compose -> ground -> format."""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

from langchain_core.runnables import Runnable, RunnableLambda

from .compose import Draft, compose
from .coverage import declines, expand_acronyms, find_gaps, gap_share, question_parts, subject_uncovered, terms
from .errors import UserError
from .ground import GroundingScorer, citation_metrics
from .index import NoteIndex
from .present import answer_markdown
from .rank import load_ranker
from .retrieve import NoteSearch
from .settings import Settings
from .text import split_sentences

MAX_QUESTION_CHARS = 2000


@dataclass
class Answer:
    draft: Draft
    grounding: dict
    timings_ms: dict
    composer: str = "default"
    llm: dict | None = None  # what the LLM composer's strict grounding removed, or why it fell back

    def to_json(self) -> dict:
        d = self.draft
        at = 0
        evidence = []
        for heading, paragraph in zip(d.headings, d.paragraphs[1:]):
            at += len(d.paragraphs[len(evidence)])
            evidence.append({"id": paragraph[0].citations[0] if heading and paragraph and paragraph[0].citations else None,
                             "title": heading, "sentences": list(range(at, at + len(paragraph)))})
        return {
            "question": d.question,
            "abstained": d.abstained,
            "reading": d.reading,
            "answer": answer_markdown(self),
            "headline": d.headline,
            "closest": d.closest,
            "brief": d.brief,
            "evidence": evidence,
            "sentences": [s.to_json() for s in d.sentences],
            "paragraphs": [[s.text for s in p] for p in d.paragraphs],
            "sources": d.sources,
            "next_lines": d.next_lines,
            "not_covered": d.not_covered,
            "grounding": self.grounding,
            "timings_ms": self.timings_ms,
            "composer": self.composer,
            "llm": self.llm,
        }


@dataclass(frozen=True)
class Question:
    """What the chain is asked: the cleaned question, how many notes, and per-question composer options."""

    text: str
    k: int
    chat_model: object | None = None  # a LangChain chat model overriding the engine's
    strict: bool | None = None
    on_text: Callable[[str], None] | None = None  # receives the LLM's text as it streams


@dataclass(frozen=True)
class Retrieval:
    """The retrieve stage's result: the question's vector, the notes found, what no note covers, and
    whether to decline."""

    question: Question
    qv: object  # the question's unit vector (numpy)
    hits: list  # the first `k` notes
    candidates: list  # the notes the composer may draw on (the first `k` lead)
    abstain: bool
    gaps: list[str]
    ms: float
    parts: list[tuple[str, object]] = field(default_factory=list)  # a compound question's asks, with their vectors
    subject_gap: bool = False  # the question's main subject (its first ask) is one of the gaps
    rare: frozenset = frozenset()  # ids of the notes using a coined term of the question that at most two notes use


@dataclass(frozen=True)
class Composition:
    """The compose stage's result: the draft and which composer wrote it."""

    retrieval: Retrieval
    draft: Draft
    composer: str  # "default" or "llm"
    llm: dict | None  # what the LLM composer's strict grounding removed, or why it fell back
    ms: float


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def grounding_summary(metrics: dict) -> dict:
    """The answer-level grounding numbers from `citation_metrics`."""
    joint = metrics["joint"]
    return {"supported_fraction": round(sum(g.supported for g in joint) / len(joint), 4) if joint else 0.0,
            "citation_recall": metrics["citation_recall"], "citation_precision": metrics["citation_precision"]}


def scored_draft(draft: Draft, scores: list) -> Draft:
    """A copy of the draft whose sentences carry their grounding `scores` (one per sentence, in `draft.sentences`
    order, as `citation_metrics` returns them); the composer's own records are left as they were."""
    scored, at = [], 0
    for paragraph in draft.paragraphs:
        scored.append([replace(s, support=g.support, supported=g.supported, evidence=g.evidence, unsupported=g.unsupported,
                               decided_by=g.decided_by) for s, g in zip(paragraph, scores[at:at + len(paragraph)])])
        at += len(paragraph)
    return replace(draft, paragraphs=scored)


def clean_question(question: str) -> str:
    """Collapse whitespace and control characters; refuse empty or oversized questions with a reason."""
    if not isinstance(question, str):
        raise UserError("the question must be text")
    text = "".join(ch if ch.isprintable() else " " for ch in question)
    text = " ".join(text.split())
    if not text:
        raise UserError("the question is empty; type a question about post-training")
    if len(text) > MAX_QUESTION_CHARS:
        raise UserError(f"the question is {len(text):,} characters; keep it under {MAX_QUESTION_CHARS:,}")
    return text


class AnswerEngine:
    """Everything a loaded index needs to answer and score: search, composer, grounding scorer."""

    def __init__(self, index: NoteIndex, embedder, settings: Settings, *, llm=None, strict: bool = True,
                 judge=None, judge_mode: str = "features", judge_note: str = "features"):
        """`llm`: any LangChain chat model; answers are then written by it and checked by the scorer.
        `judge` (see `service.open_judge`) reads the sentences the features leave open, per `judge_mode`."""
        self.index, self.embedder, self.settings = index, embedder, settings
        self.llm, self.strict = llm, strict
        self.judge_note = judge_note
        self._judge, self._judge_mode = judge, judge_mode
        self.search = NoteSearch(index, embedder, settings)
        self._ranker = None  # read on the first answer: `python -m evaluation.fit_composer` needs the engine to fit it
        self.scorer = GroundingScorer(embedder, self.note_sentences, judge=judge, mode=judge_mode if judge else "features")
        self.chain = self._build_chain()

    @property
    def ranker(self):
        if self._ranker is None:
            self._ranker = load_ranker()
        return self._ranker

    def with_index(self, index: NoteIndex) -> "AnswerEngine":
        """The same engine (embedder, composer, judge) over a newer index."""
        return AnswerEngine(index, self.embedder, self.settings, llm=self.llm, strict=self.strict, judge=self._judge,
                            judge_mode=self._judge_mode, judge_note=self.judge_note)

    def note_sentences(self, note_id: str):
        row = self.index.row(note_id)
        if row is None:
            return None
        rows = self.index.sentence_rows(row)
        vectors = self.index.sentence_vectors[rows.start:rows.stop]
        pairs = list(zip(self.index.notes[row].sentences, vectors))
        return pairs + [(t, None) for t in split_sentences(self.index.notes[row].summary)]

    def _build_chain(self) -> Runnable:
        """Question -> Retrieval -> Composition -> Answer, each stage a typed record (see the dataclasses above)."""
        return RunnableLambda(self._retrieve) | RunnableLambda(self._compose) | RunnableLambda(self._ground)

    def _retrieve(self, q: Question) -> Retrieval:
        """Candidate notes, the question's uncovered terms, and whether to decline."""
        t = time.perf_counter()
        qv = self.embedder.embed([q.text])[0]
        depth = max(q.k, self.settings.gap_candidates, self.settings.compose_candidates)
        candidates = self.search.search(q.text, depth, query_vector=qv)
        hits = candidates[:q.k]
        texts = [self.index.note(h.id).text for h in candidates]
        coverage = find_gaps(q.text, texts)
        expanded = expand_acronyms(q.text, texts)
        if expanded != q.text:  # an acronym the notes only spell out: search and compose with the spelled-out question
            qv = self.embedder.embed([expanded])[0]
            candidates = self.search.search(expanded, depth, query_vector=qv)
            hits = candidates[:q.k]
        remainder_best = None
        if not coverage.complete and coverage.remainder:
            remainder_best = self.search.best_dense(coverage.remainder)
        best = max((h.dense for h in hits), default=-1.0)
        rare = self.search.rare_term_notes(terms(q.text))  # notes using a coined term of the question only they use
        if best < self.settings.abstain_cosine and rare & {h.id for h in hits}:
            best = self.settings.abstain_cosine  # the question names a term only a retrieved note or two use: not off-topic
        abstain = not hits or declines(coverage, best, remainder_best, gap_share(q.text, coverage), self.settings)
        parts = question_parts(q.text) if not abstain else []
        part_vectors = list(zip(parts, self.embedder.embed(parts))) if parts else []
        return Retrieval(q, qv, hits, candidates[:self.settings.compose_candidates], abstain, coverage.gaps,
                         _ms(t), part_vectors, subject_uncovered(q.text, coverage.gaps), frozenset(rare))

    def _compose(self, r: Retrieval) -> Composition:
        """The draft: the LLM composer's when one is set (falling back on failure), else the extractive one."""
        t = time.perf_counter()
        q = r.question
        llm = q.chat_model or self.llm
        if llm is not None and not r.abstain:
            from .llm_compose import LLMFailure, compose_with_llm

            strict = self.strict if q.strict is None else q.strict
            try:
                d, report = compose_with_llm(q.text, r.qv, self.index, r.hits, self.scorer, llm, strict,
                                             self.settings.next_lines, q.on_text)
                return Composition(r, d, "llm", {**report.to_json(), "fallback": None}, _ms(t))
            except LLMFailure as exc:
                partial = exc.report.to_json() if exc.report else {"removed": [], "dropped_citations": [], "repaired": [], "attributed": []}
                fallback = {**partial, "fallback": f"{exc}; answered with the default composer"}
        else:
            fallback = None
        d = compose(q.text, r.qv, self.index, r.candidates, self.settings, self.ranker, r.abstain, r.gaps, k=q.k,
                    parts=r.parts, subject_gap=r.subject_gap, rare=r.rare)
        return Composition(r, d, "default", fallback, _ms(t))

    def _ground(self, c: Composition) -> Answer:
        """Every sentence scored against the notes it cites; the answer (a scored copy of the draft) with its timings."""
        t = time.perf_counter()
        metrics = citation_metrics([(s.text, s.citations) for s in c.draft.sentences], self.scorer)
        draft = scored_draft(c.draft, metrics["joint"])
        ms = {"retrieve": c.retrieval.ms, "compose": c.ms, "ground": _ms(t)}
        ms["total"] = round(sum(ms.values()), 1)
        # the line between supported and not, for the page's legend (the feature model's; a judge may move it)
        summary = {**grounding_summary(metrics), "support_threshold": round(float(self.scorer.model.threshold), 4)}
        return Answer(draft, summary, ms, c.composer, c.llm)

    def ask(self, question: str, k: int | None = None, llm=None, strict: bool | None = None,
            on_text: Callable[[str], None] | None = None) -> Answer:
        """`llm`/`strict` override the engine's for this question; `on_text` receives the LLM's text as it streams."""
        return self.chain.invoke(Question(clean_question(question), k or self.settings.k, llm, strict, on_text))
