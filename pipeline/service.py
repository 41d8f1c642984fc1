"""The one front door for both faces (the CLI and the page): add a note, rebuild, ask, ask-stream, score,
score a batch, search. The `Workbench` keeps one engine for the page, swapped after index changes; the
module-level functions serve the CLI, which needs no long-lived engine."""
from __future__ import annotations

import os
import queue
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from .chain import AnswerEngine, JudgeChoice, load_engine, open_index, score_text
from .errors import InquireError
from .ground import JUDGE_MODES
from .index import build_index
from .notes import NoteError, check_note_text, corpus_signature, load_corpus
from .settings import Settings


class UserError(InquireError, ValueError):
    """A problem to show the user as is: it already says what is wrong and what to do."""


class Workbench:
    def __init__(self, settings: Settings, background: bool = False):
        """With `background`, the engine (embedder and index) loads in a thread, so the page can be served
        meanwhile; the first call that needs it waits for it, and a load error surfaces there."""
        self.settings = settings
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
            self._engine = load_engine(self.settings, judge=JudgeChoice("auto"))
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

    def add_note(self, markdown: str, progress=None, replace: bool = False) -> dict:
        """Validate a note's Markdown and, only if valid, save it and update the index incrementally."""
        with self._lock:
            signature = corpus_signature(self.settings.corpus_dir)
            report = add_note(self.settings, markdown, self.engine.embedder, replace=replace, progress=progress)
            self._reload(signature)
        return report

    def rebuild(self, progress=None, full: bool = True) -> dict:
        """Update the index from the corpus: only new or edited notes are embedded, or every note with `full`."""
        with self._lock:
            signature = corpus_signature(self.settings.corpus_dir)
            report = build_index(self.settings, self.engine.embedder, full=full, progress=progress)
            self._reload(signature)
        return report.to_json()

    def _reload(self, signature: tuple) -> None:
        """Swap in the index just built. `signature` is the corpus as it was before the build, so a note edited
        during the build differs from it and is picked up at the next question."""
        from .index import load_index

        embedder = self.engine.embedder
        self.engine = self.engine.with_index(load_index(self.settings, embedder.name, embedder.dim))
        self._signature = signature


def add_note(settings: Settings, text: str, embedder, replace: bool = False, origin: str = "the note",
             expected_id: str | None = None, progress=None) -> dict:
    """Validate a note from its text and, only if valid, write it into the corpus (atomically: a temporary
    file renamed over the target) and update the index incrementally. An existing id needs `replace`.
    Returns the index report's JSON plus the note's `id` and where it was `saved_as`."""
    if not isinstance(text, str) or not text.strip():
        raise UserError("the note is empty; fill in the form, upload a .md file or pass a Markdown file")
    note = check_note_text(text, origin, settings.corpus_dir, expected_id)
    target = settings.corpus_dir / f"{note.id}.md"
    if target.exists() and not replace:
        raise UserError(f"a note with id '{note.id}' already exists ({target}); choose another id, "
                        f"or replace it (inquire add --replace)")
    handle, part = tempfile.mkstemp(dir=settings.corpus_dir, prefix=".adding-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(text.encode("utf-8", errors="surrogatepass"))
        os.replace(part, target)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    report = build_index(settings, embedder, progress=progress)
    return {**report.to_json(), "id": note.id, "saved_as": str(target)}


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


def note_markdown(note_id: str, title: str, summary: str, body: str, sources: str, tags: str, related: str) -> str:
    """Front matter for a note entered through the form; sources are one per line: title | authors | year | url."""
    import yaml

    parsed_sources = []
    for n, line in enumerate((sources or "").splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("|")]
        if len(cells) != 4:
            raise UserError(f"sources line {n}: write 'title | authors | year | url' (got {len(cells)} parts)")
        year = int(cells[2]) if cells[2].isdigit() else cells[2]
        parsed_sources.append({"title": cells[0], "authors": cells[1], "year": year, "url": cells[3]})
    split = lambda text: [t.strip() for t in (text or "").split(",") if t.strip()]
    meta = {"id": (note_id or "").strip(), "title": (title or "").strip(), "summary": (summary or "").strip(),
            "sources": parsed_sources, "tags": split(tags), "related": split(related)}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + (body or "").strip() + "\n"


def error_message(exc: Exception) -> str:
    if isinstance(exc, NoteError):
        return "The note was not saved:\n" + "\n".join(f"- {p.field}: {p.message}" for p in exc.problems)
    return str(exc)
