"""The answer chain as a LangChain runnable: retrieve -> compose -> ground -> format."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from langchain_core.runnables import Runnable, RunnableLambda

from .compose import Draft, compose
from .coverage import declines, expand_acronyms, find_gaps, gap_share, question_parts, subject_uncovered, terms
from .errors import InquireError
from .ground import GroundingScorer, citation_metrics
from .index import IndexBusy, IndexCorrupt, IndexMissing, IndexWriteError, NoteIndex, build_index, load_index
from .notes import load_corpus
from .rank import load_ranker
from .retrieve import NoteSearch
from .settings import Settings
from .text import split_sentences

MAX_QUESTION_CHARS = 2000


class QuestionError(InquireError, ValueError):
    pass


@dataclass
class Answer:
    draft: Draft
    grounding: dict
    timings_ms: dict
    composer: str = "default"
    llm: dict | None = None  # what the LLM composer's strict grounding removed, or why it fell back

    def to_json(self) -> dict:
        from .present import answer_markdown

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


def clean_question(question: str) -> str:
    """Collapse whitespace and control characters; refuse empty or oversized questions with a reason."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    text = "".join(ch if ch.isprintable() else " " for ch in question)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty; type a question about post-training")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(text):,} characters; keep it under {MAX_QUESTION_CHARS:,}")
    return text


def open_index(settings: Settings, embedder, log=None, progress=None) -> NoteIndex:
    """Load the index, building or repairing it first when it is missing, corrupt or out of date;
    `progress(fraction, message)` follows any embedding."""
    try:
        index = load_index(settings, embedder.name, embedder.dim)
    except (IndexMissing, IndexCorrupt) as exc:
        if log:
            log(f"{exc}; rebuilding the index")
        build_index(settings, embedder, full=isinstance(exc, IndexCorrupt), progress=progress)
        return load_index(settings, embedder.name, embedder.dim)
    corpus = load_corpus(settings.corpus_dir)
    if not corpus.problems and sorted(n.hash for n in index.notes) != sorted(n.hash for n in corpus.notes):
        try:
            build_index(settings, embedder, corpus=corpus, wait_seconds=0, progress=progress)
        except IndexBusy:  # a build is running: answer from the index we have rather than wait
            if log:
                log("the corpus changed and another build is running; answering from the current index")
            return index
        except IndexWriteError as exc:
            if log:
                log(f"the corpus changed but could not update the index: {exc}")
            return index
        if log:
            log("the corpus changed since the index was built; updated it")
        index = load_index(settings, embedder.name, embedder.dim)
    return index


@dataclass(frozen=True)
class JudgeChoice:
    """Which grounding judge to use: `mode` auto | features | llm (see ground.JUDGE_MODES), and where the
    judge runs: an OpenAI-compatible server (`url`, `model`) or, without a url, the local model `model`."""

    mode: str = "auto"
    url: str | None = None
    model: str | None = None


def open_judge(choice: JudgeChoice) -> tuple[object | None, str]:
    """(judge or None, a line saying which judge scores and why). Auto without an installed judge scores with
    the features and says how to enable the judge; llm mode without one is an error naming the fix."""
    from .judge import DEFAULT_MODEL, JudgeUnavailable, ServerJudge, load_local_judge

    if choice.mode == "features":
        return None, "features"
    if choice.url:
        if not choice.model:
            raise JudgeUnavailable(f"--judge-url {choice.url} needs --judge-model, the model name the server knows")
        return ServerJudge(choice.url, choice.model), f"judge {choice.model} at {choice.url}"
    try:
        judge = load_local_judge(choice.model or DEFAULT_MODEL)
    except JudgeUnavailable as exc:
        if choice.mode == "llm":
            raise
        return None, f"features (the LLM judge is not available: {exc})"
    return judge, f"local judge {choice.model or DEFAULT_MODEL}"


class AnswerEngine:
    """Everything a loaded index needs to answer and score: search, composer, grounding scorer."""

    def __init__(self, index: NoteIndex, embedder, settings: Settings, llm=None, strict: bool = True,
                 judge=None, judge_mode: str = "features", judge_note: str = "features"):
        """`llm`: any LangChain chat model; answers are then written by it and checked by the scorer.
        `judge` (see `open_judge`) reads the sentences the features leave open, per `judge_mode`."""
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
        return AnswerEngine(index, self.embedder, self.settings, self.llm, self.strict, self._judge, self._judge_mode, self.judge_note)

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
        """Every sentence scored against the notes it cites; the answer with its timings."""
        t = time.perf_counter()
        sentences = c.draft.sentences
        metrics = citation_metrics([(s.text, s.citations) for s in sentences], self.scorer)
        for sentence, g in zip(sentences, metrics["joint"]):
            sentence.support, sentence.supported = g.support, g.supported
            sentence.evidence, sentence.unsupported, sentence.decided_by = g.evidence, g.unsupported, g.decided_by
        ms = {"retrieve": c.retrieval.ms, "compose": c.ms, "ground": _ms(t)}
        ms["total"] = round(sum(ms.values()), 1)
        # the line between supported and not, for the page's legend (the feature model's; a judge may move it)
        summary = {**grounding_summary(metrics), "support_threshold": round(float(self.scorer.model.threshold), 4)}
        return Answer(c.draft, summary, ms, c.composer, c.llm)

    def ask(self, question: str, k: int | None = None, llm=None, strict: bool | None = None,
            on_text: Callable[[str], None] | None = None) -> Answer:
        """`llm`/`strict` override the engine's for this question; `on_text` receives the LLM's text as it streams."""
        return self.chain.invoke(Question(clean_question(question), k or self.settings.k, llm, strict, on_text))


def load_engine(settings: Settings, log=None, llm=None, strict: bool = True, judge: JudgeChoice | None = None) -> AnswerEngine:
    from .embed import load_embedder

    embedder = load_embedder(settings.batch_size)
    judge_model, note = open_judge(judge) if judge else (None, "features")
    return AnswerEngine(open_index(settings, embedder, log), embedder, settings, llm, strict,
                        judge_model, judge.mode if judge else "features", note)


def score_text(engine: AnswerEngine, text: str, mode: str | None = None) -> dict:
    """Grounding report for any cited answer: ours or one pasted from another assistant. `mode` (auto,
    features, llm) overrides the engine's judge mode for this answer."""
    from .cited import parse_cited_answer

    parsed = parse_cited_answer(text)
    unknown = list(parsed.unresolved)
    pairs = []
    for s in parsed.sentences:
        known = [c for c in s.citations if engine.index.row(c) is not None]
        unknown += [f"[{c}]" for c in s.citations if engine.index.row(c) is None]
        pairs.append((s.text, known))
    metrics = citation_metrics(pairs, engine.scorer, mode)
    sentences = []
    for s, (_, known), g in zip(parsed.sentences, pairs, metrics["joint"]):
        unsupported = list(g.unsupported)
        missing = [c for c in s.citations if c not in known]
        if missing:
            unsupported.insert(0, "cites unknown note(s): " + ", ".join(missing))
        if not s.citations:
            unsupported.insert(0, "no citation")
        sentences.append({"text": s.text, "citations": s.citations, "support": g.support, "supported": g.supported,
                          "evidence": g.evidence, "unsupported": unsupported, "decided_by": g.decided_by,
                          "judge_support": g.judge_support, "probe_support": g.probe_support, "threshold": g.threshold,
                          "verdict": g.verdict, "clashes_with": g.clashes_with})
    return {
        "sentences": sentences,
        **grounding_summary(metrics),
        "unknown_citations": list(dict.fromkeys(unknown)),
        "uncited_sentences": [x["text"] for x in sentences if not x["citations"]],
        "judge": _judge_used(engine, mode),
    }


def _judge_used(engine: AnswerEngine, mode: str | None) -> str:
    """Which stages scored: 'features', or the mode and the judge ('auto with local judge ...')."""
    mode = mode or engine.scorer.mode
    if engine.scorer.judge is None:
        return engine.judge_note if mode != "features" else "features"
    return "features" if mode == "features" else f"{mode} with {engine.judge_note}"
