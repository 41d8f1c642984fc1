"""The one front door for both faces (the CLI and the page) and all the wiring behind it: open (build or repair)
the index, choose and load the grounding judge, load the engine, score a cited text; add, replace, delete and
restore a note, rebuild, ask, ask-stream, score a batch, search. The `PageService` keeps one engine for the page,
swapped after index changes; the module-level functions serve the CLI, which needs no long-lived engine."""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import history
from .chain import AnswerEngine, grounding_summary
from .errors import UserError
from .files import write_atomic
from .ground import JUDGE_MODES, citation_metrics
from .index import IndexBusy, IndexCorrupt, IndexMissing, IndexWriteError, NoteIndex, build_index, load_index
from .notes import NoteError, Problem, check_note_text, corpus_signature, load_corpus
from .settings import Settings


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


def load_engine(settings: Settings, log=None, llm=None, strict: bool = True, judge: JudgeChoice | None = None) -> AnswerEngine:
    from .embed import load_embedder

    embedder = load_embedder(settings.batch_size)
    judge_model, note = open_judge(judge) if judge else (None, "features")
    return AnswerEngine(open_index(settings, embedder, log), embedder, settings, llm=llm, strict=strict, judge=judge_model,
                        judge_mode=judge.mode if judge else "features", judge_note=note)


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


class PageService:
    """What the page calls: one engine (embedder, index, judge) kept for all visitors and swapped after index
    changes, with the page's ask, score, search and note operations over it. (The benchmarks are evaluation/bench.py.)"""

    def __init__(self, settings: Settings, background: bool = False, judge: JudgeChoice | None = None):
        """With `background`, the engine (embedder and index) loads in a thread, so the page can be served
        meanwhile; the first call that needs it waits for it, and a load error surfaces there. `judge` is the
        operator's choice of grounding judge (default: the local one if installed); visitors pick only its mode."""
        self.settings = settings
        self.judge = judge or JudgeChoice("auto")
        self._lock = threading.Lock()
        self._notes_cache: tuple[str, dict] | None = None
        self._engine: AnswerEngine | None = None
        self._signature: tuple | None = None  # of the corpus folder when the index was last checked against it
        self._load_error: BaseException | None = None
        self._ready = threading.Event()
        if background:
            threading.Thread(target=self._start, name="engine-load", daemon=True).start()
        else:
            self._start()
            if self._load_error is not None:
                raise self._load_error

    def _start(self) -> None:
        try:
            # The judge model loads on the first sentence it reads; until `make install-judge`, auto scores with features.
            signature = corpus_signature(self.settings.corpus_dir)
            self._engine = load_engine(self.settings, judge=self.judge)
            self._signature = signature
        except BaseException as exc:  # kept for the first caller, who reports it
            self._load_error = exc
        finally:
            self._ready.set()

    @property
    def engine(self) -> AnswerEngine:
        self._ready.wait()
        if self._load_error is not None:
            raise self._load_error
        return self._engine

    @engine.setter
    def engine(self, engine: AnswerEngine) -> None:
        self._engine = engine

    def notes(self) -> dict[str, dict]:
        """Full notes (with bodies) for display, cached per index generation."""
        gen = self.engine.index.generation
        if self._notes_cache is None or self._notes_cache[0] != gen:
            corpus = load_corpus(self.settings.corpus_dir)
            self._notes_cache = (gen, {n.id: {**n.listing(), "body": n.body} for n in corpus.notes})
        return self._notes_cache[1]

    def refresh(self, progress=None) -> AnswerEngine:
        """The engine over an index that matches the corpus on disk: notes added, edited or deleted in the folder
        (by an editor, git, another process) are embedded incrementally before the question is answered, as
        `inquire ask` does. A cheap listing of file names, sizes and times decides whether to look closer."""
        signature = corpus_signature(self.settings.corpus_dir)
        if signature == self._signature:
            return self.engine
        with self._lock:
            engine = self.engine
            index = open_index(self.settings, engine.embedder, progress=progress)
            if index.generation != engine.index.generation:
                self.engine = engine = engine.with_index(index)
            self._signature = signature
        return engine

    def ask(self, question: str, k: int | None = None, progress=None) -> dict:
        return self.refresh(progress).ask(question, k).to_json()

    def ask_stream(self, question: str, model, strict: bool = True, progress=None) -> Iterator[tuple[str, object]]:
        """Ask with a LangChain chat model: ("text", the reply so far) while it writes, then ("answer", JSON)
        once the reply is grounded (or the default composer's answer, if the model failed)."""
        events: queue.Queue = queue.Queue()
        engine = self.refresh(progress)

        def run() -> None:
            try:
                answer = engine.ask(question, llm=model, strict=strict, on_text=lambda text: events.put(("text", text)))
                events.put(("answer", answer.to_json()))
            except Exception as exc:  # handed to the caller, which shows it
                events.put(("error", exc))

        threading.Thread(target=run, daemon=True).start()
        while True:
            kind, value = events.get()
            while kind == "text" and not events.empty():  # the page only needs the latest text
                kind, value = events.get()
            if kind == "error":
                raise value
            yield kind, value
            if kind == "answer":
                return

    def score(self, text: str, judge: str = "auto") -> dict:
        """Grounding report; `judge` is auto, features or llm (llm needs the judge installed)."""
        if not isinstance(text, str) or not text.strip():
            raise UserError("paste an answer with citations such as [note-id] to score it")
        if judge not in JUDGE_MODES:
            raise UserError(f"judge must be one of {', '.join(JUDGE_MODES)}, not '{judge}'")
        engine = self.refresh()
        if judge == "llm" and engine.scorer.judge is None:
            raise UserError(f"the LLM judge is not available ({engine.judge_note}); choose auto or features")
        return score_text(engine, text, judge)

    def search_notes(self, query: str) -> list[dict]:
        engine = self.refresh()
        notes = self.notes()
        if not query or not query.strip():
            return list(notes.values())
        hits = engine.search.search(query, 10)
        return [notes[h.id] for h in hits if h.id in notes]

    def add_note(self, markdown: str, progress=None, replace: bool = False, by: str | None = None,
                 address: str | None = None, earlier: list | None = None) -> dict:
        """Validate a note's Markdown and, only if valid, save it (a replaced text is kept in history) and update
        the index incrementally."""
        with self._lock:
            signature = corpus_signature(self.settings.corpus_dir)
            report = add_note(self.settings, markdown, self.engine.embedder, replace=replace, progress=progress,
                              by=by, address=address, earlier=earlier)
            self._reload(signature)
        return report

    def restore(self, note_id: str, version: int, by: str | None = None, address: str | None = None, progress=None) -> dict:
        with self._lock:
            signature = corpus_signature(self.settings.corpus_dir)
            report = restore_note(self.settings, note_id, version, self.engine.embedder, by, address, progress)
            self._reload(signature)
        return report

    def note_history(self, note_id: str) -> dict:
        return history.history_json(self.settings.corpus_dir, note_id)

    def rebuild(self, progress=None, full: bool = True, by: str | None = None, address: str | None = None) -> dict:
        """Update the index from the corpus: only new or edited notes are embedded, or every note with `full`."""
        with self._lock:
            signature = corpus_signature(self.settings.corpus_dir)
            report = build_index(self.settings, self.engine.embedder, full=full, progress=progress)
            self._reload(signature)
        history.audit(self.settings.corpus_dir, "rebuild" if full else "update index", by, address, notes=report.notes)
        return report.to_json()

    def _reload(self, signature: tuple) -> None:
        """Swap in the index just built. `signature` is the corpus as it was before the build, so a note edited
        during the build differs from it and is picked up at the next question."""
        embedder = self.engine.embedder
        self.engine = self.engine.with_index(load_index(self.settings, embedder.name, embedder.dim))
        self._signature = signature


def add_note(settings: Settings, text: str, embedder, replace: bool = False, origin: str = "the note",
             expected_id: str | None = None, progress=None, by: str | None = None, address: str | None = None,
             earlier: list | None = None) -> dict:
    """Validate a note from its text and, only if valid, write it into the corpus (atomically) and update the
    index incrementally. An existing id needs `replace`, and its old file is kept in the note's history first.
    `by` (an account) and `address` go into the history and the audit log; `earlier` are problems the caller
    already found in the text, reported together with the rest. Returns the index report's JSON plus the
    note's `id`, where it was `saved_as`, and the `version` of the old text kept (or null)."""
    if not isinstance(text, str) or not text.strip():
        raise UserError("the note is empty; fill in the form, upload a .md file or pass a Markdown file")
    note = check_note_text(text, origin, settings.corpus_dir, expected_id, earlier)
    target = settings.corpus_dir / f"{note.id}.md"
    with history.lock(settings.corpus_dir):
        if target.exists() and not replace:
            raise UserError(f"a note with id '{note.id}' already exists ({target}); choose another id, or replace it "
                            f"(its old text is kept in history): inquire add --replace, or tick 'Replace' on the editor's desk")
        kept = history.keep(settings.corpus_dir, note.id, "replace", by)
        write_atomic(target, text.encode("utf-8", errors="surrogatepass"))
        history.audit(settings.corpus_dir, "replace" if kept else "add", by, address, id=note.id,
                      kept_version=kept.version if kept else None)
    report = build_index(settings, embedder, progress=progress)
    return {**report.to_json(), "id": note.id, "saved_as": str(target), "version": kept.version if kept else None}


def delete_note(settings: Settings, note_id: str, embedder, by: str | None = None, address: str | None = None) -> dict:
    """Remove a note from the corpus, keeping its file in history (restore it with `inquire restore`). A note
    other notes link to (`related`) is refused: removing it would leave the corpus invalid."""
    linking = [n.id for n in load_corpus(settings.corpus_dir).notes if note_id in n.related]
    if linking:
        raise UserError(f"notes {', '.join(linking)} link to '{note_id}' (related); remove those links first, "
                        f"or replace the note instead of deleting it")
    with history.lock(settings.corpus_dir):
        target = settings.corpus_dir / f"{note_id}.md"
        kept = history.keep(settings.corpus_dir, note_id, "delete", by)
        if kept is None:
            raise UserError(f"there is no note '{note_id}' ({target} does not exist); see inquire notes for the ids")
        target.unlink()
        history.audit(settings.corpus_dir, "delete", by, address, id=note_id, kept_version=kept.version)
    report = build_index(settings, embedder)
    return {**report.to_json(), "id": note_id, "version": kept.version}


def restore_note(settings: Settings, note_id: str, version: int, embedder, by: str | None = None,
                 address: str | None = None, progress=None) -> dict:
    """Put a kept version back as the note's file: the text it replaces is itself kept first, and the restored
    text is validated against today's corpus like any new note. The index is updated."""
    data = history.version_bytes(settings.corpus_dir, note_id, version)
    text = data.decode("utf-8", errors="surrogatepass")
    check_note_text(text, f"version {version} of '{note_id}'", settings.corpus_dir, note_id)
    target = settings.corpus_dir / f"{note_id}.md"
    with history.lock(settings.corpus_dir):
        kept = history.keep(settings.corpus_dir, note_id, "restore", by)
        write_atomic(target, data)
        history.audit(settings.corpus_dir, "restore", by, address, id=note_id, restored_version=version,
                      kept_version=kept.version if kept else None)
    report = build_index(settings, embedder, progress=progress)
    return {**report.to_json(), "id": note_id, "restored": version, "version": kept.version if kept else None}


def score_batch(engine: AnswerEngine, lines: list[str], origin: str) -> list[dict]:
    """Score a JSONL batch of {"id", "answer"} records; a bad line is an error naming `origin`:line."""
    import json

    results = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text = record["answer"] if isinstance(record, dict) else None
        except (ValueError, KeyError, TypeError):
            text = None
        if not isinstance(text, str):
            raise UserError(f"{origin}:{n}: each line must be a JSON object with an 'answer' string")
        results.append({"id": record.get("id", n), **score_text(engine, text)})
    return results


def note_markdown(note_id: str, title: str, summary: str, body: str, sources: str, tags: str, related: str) -> tuple[str, list[Problem]]:
    """Front matter for a note entered through the form, and the form's own problems (a sources line that is
    not `title | authors | year | url`), to be reported with the note's other faults in one go."""
    import yaml

    parsed_sources, problems = [], []
    for n, line in enumerate((sources or "").splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("|")]
        if len(cells) != 4:
            problems.append(Problem("the form", "sources", f"line {n}: write 'title | authors | year | url' (got {len(cells)} parts)"))
            continue
        year = int(cells[2]) if cells[2].isdigit() else cells[2]
        parsed_sources.append({"title": cells[0], "authors": cells[1], "year": year, "url": cells[3]})
    split = lambda text: [t.strip() for t in (text or "").split(",") if t.strip()]
    meta = {"id": (note_id or "").strip(), "title": (title or "").strip(), "summary": (summary or "").strip(),
            "sources": parsed_sources, "tags": split(tags), "related": split(related)}
    markdown = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + (body or "").strip() + "\n"
    return markdown, problems


def error_message(exc: Exception) -> str:
    if isinstance(exc, NoteError):
        return "The note was not saved:\n" + "\n".join(f"- {p.field}: {p.message}" for p in exc.problems)
    return str(exc)
