"""The workbench behind the web page: one engine, swapped after index changes, errors as messages."""
from __future__ import annotations

import os
import queue
import re
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from .chain import AnswerEngine, JudgeChoice, load_engine, open_index, score_text
from .ground import JUDGE_MODES
from .index import build_index
from .notes import NoteError, check_new_note, corpus_signature, load_corpus
from .settings import Settings

MAX_UPLOAD_BYTES = 1_000_000


class UserError(ValueError):
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

    def ask_stream(self, question: str, model, strict: bool = True) -> Iterator[tuple[str, object]]:
        """Ask with a LangChain chat model: ("text", the reply so far) while it writes, then ("answer", JSON)
        once the reply is grounded (or the default composer's answer, if the model failed)."""
        events: queue.Queue = queue.Queue()
        engine = self.refresh()

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

    def add_note(self, markdown: str, progress=None) -> dict:
        """Validate a note's Markdown and, only if valid, save it and update the index incrementally."""
        if not isinstance(markdown, str) or not markdown.strip():
            raise UserError("the note is empty; fill in the form or upload a .md file")
        data = markdown.encode("utf-8", errors="surrogatepass")
        if len(data) > MAX_UPLOAD_BYTES:
            raise UserError(f"the note is {len(data):,} bytes; notes must be under {MAX_UPLOAD_BYTES:,} bytes")
        match = re.search(r"^id:\s*['\"]?([^\s'\"]+)", markdown, flags=re.MULTILINE)
        stem = match.group(1) if match and re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", match.group(1)) else "unnamed-note"
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / f"{stem}.md"  # the name comes from a validated slug, never from the upload
            staged.write_bytes(data)
            note = check_new_note(staged, self.settings.corpus_dir)
            with self._lock:
                target = self.settings.corpus_dir / f"{note.id}.md"
                if target.exists():
                    raise UserError(f"a note with id '{note.id}' already exists; choose another id")
                handle, part = tempfile.mkstemp(dir=self.settings.corpus_dir, prefix=".adding-", suffix=".tmp")
                with os.fdopen(handle, "wb") as f:
                    f.write(data)
                os.replace(part, target)
                report = build_index(self.settings, self.engine.embedder, progress=progress)
                self.engine = self.engine.with_index(self._load())
        return {**report.to_json(), "id": note.id}

    def rebuild(self, progress=None, full: bool = True) -> dict:
        """Update the index from the corpus: only new or edited notes are embedded, or every note with `full`."""
        with self._lock:
            signature = corpus_signature(self.settings.corpus_dir)
            report = build_index(self.settings, self.engine.embedder, full=full, progress=progress)
            self.engine = self.engine.with_index(self._load())
            self._signature = signature
        return report.to_json()

    def _load(self):
        from .index import load_index

        return load_index(self.settings, self.engine.embedder.name, self.engine.embedder.dim)


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
