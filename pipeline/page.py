"""The web page's layout and handlers (Gradio). Each handler parses the form, calls the workbench and
renders; user errors become messages, anything else is a bug and shows as one. Imported by `pipeline.web`
once the workbench has started loading, since importing Gradio takes seconds."""
from __future__ import annotations

from html import escape
from pathlib import Path

import gradio as gr

from .errors import InquireError
from .ground import JUDGE_MODES
from .llm_compose import LLMSettings, chat_model
from .notes import MAX_FILE_BYTES
from .render import answer_html, note_html, score_html, streaming_html
from .service import Workbench, error_message, note_markdown

CSS = """
.sent { padding: 1px 2px; border-radius: 3px; }
.cite { font-size: 0.85em; text-decoration: none; }
details.source { margin: 0.4em 0; }
.inquire-answer .brief { font-size: 1.15em; line-height: 1.6; margin: 0.6em 0; }
.inquire-answer .headline { font-size: 1.05em; }
details.evidence { margin: 0.6em 0; }
details.evidence > summary { cursor: pointer; font-weight: 600; }
.inquire-answer .legend { color: #555; }
"""
ERRORS = (InquireError, OSError)  # what a user can fix; anything else is a bug and shows as one
NO_LLM = "default (no LLM)"


def _error_html(exc: Exception) -> str:
    return f'<p class="error">{escape(error_message(exc)).replace(chr(10), "<br>")}</p>'


def _api(fn):
    """API calls return the CLI's JSON; a user error comes back as a readable gr.Error, never a traceback."""
    def call(*args):
        try:
            return fn(*args)
        except ERRORS as exc:
            raise gr.Error(error_message(exc)) from None
    call.__name__ = fn.__name__
    return call


class Handlers:
    """What the page's controls do, over one workbench."""

    def __init__(self, bench: Workbench):
        self.bench = bench

    def ask(self, question: str, kind: str, base_url: str, model: str, timeout: float, strict: bool, progress=gr.Progress()):
        """Without an LLM: one answer. With one: its reply streams in, then the grounded answer replaces it.
        Notes changed on disk are embedded first, with a progress bar."""
        bench = self.bench
        def track(fraction: float, message: str) -> None:  # notes changed on disk are embedded first
            progress(fraction, desc=message)

        try:
            if kind == NO_LLM:
                answer = bench.ask(question, progress=track)
            else:
                chat = chat_model(LLMSettings(kind, (model or "").strip(), (base_url or "").strip() or None, timeout_s=float(timeout or 60)))
                answer = None
                for event, value in bench.ask_stream(question, chat, bool(strict), progress=track):
                    if event == "text":
                        yield streaming_html(value), gr.update(choices=[], value=None)
                    else:
                        answer = value
        except ERRORS as exc:
            yield _error_html(exc), gr.update(choices=[], value=None)
            return
        yield answer_html(answer, bench.notes()), gr.update(choices=answer["next_lines"], value=None)

    def follow(self, line: str | None, *llm):
        """A next inquiring line, clicked: it becomes the question and is asked."""
        if not line:
            yield gr.update(), gr.update(), gr.update()
            return
        for html, lines in self.ask(line, *llm):
            yield line, html, lines

    def score(self, text: str, judge: str) -> str:
        try:
            return score_html(self.bench.score(text, judge))
        except ERRORS as exc:
            return _error_html(exc)

    def add(self, upload, note_id, title, summary, body, sources, tags, related, progress=gr.Progress()) -> str:
        try:
            if upload is not None:
                path = Path(upload if isinstance(upload, str) else upload.name)
                if path.stat().st_size > MAX_FILE_BYTES:
                    return f"The upload is over {MAX_FILE_BYTES:,} bytes; notes must be smaller."
                markdown = path.read_bytes().decode("utf-8")
            else:
                markdown = note_markdown(note_id, title, summary, body, sources, tags, related)
            report = self.bench.add_note(markdown, progress=lambda f, m: progress(f, desc=m))
        except UnicodeDecodeError:
            return "The upload is not UTF-8 text; save the note as UTF-8 Markdown."
        except ERRORS as exc:
            return error_message(exc)
        return f"Saved note '{report['id']}'. Index: {report['added']} added, {report['updated']} updated, {report['notes']} notes."

    def update(self, full: bool, progress) -> str:
        try:
            r = self.bench.rebuild(progress=lambda f, m: progress(f, desc=m), full=full)
        except ERRORS as exc:
            return error_message(exc)
        if full:
            return f"Rebuilt the index: {r['notes']} notes re-embedded in {r['seconds']:.1f}s."
        return (f"Updated the index in {r['seconds']:.1f}s: {r['added']} added, {r['updated']} updated, "
                f"{r['removed']} removed, {r['unchanged']} unchanged ({r['notes']} notes).")

    def browse(self, query: str) -> str:
        try:
            return "\n".join(note_html(n) for n in self.bench.search_notes(query))
        except ERRORS as exc:
            return _error_html(exc)


def _ask_tab(h: Handlers) -> None:
    question = gr.Textbox(label="Question", placeholder="What happens when post-training patches try to add human values?")
    ask_button = gr.Button("Ask", variant="primary")
    with gr.Accordion("LLM composer (optional)", open=False):
        gr.Markdown("Any OpenAI-compatible server (llama.cpp, vLLM, a hosted API) or Ollama. The API key is read from "
                    "the server's `OPENAI_API_KEY` environment variable, never typed here. Strict mode removes sentences "
                    "the cited notes do not support.")
        llm = [gr.Radio([NO_LLM, "openai", "ollama"], value=NO_LLM, label="Composer"),
               gr.Textbox(label="Base URL", placeholder="http://127.0.0.1:8080/v1"),
               gr.Textbox(label="Model name", placeholder="the name the server knows"),
               gr.Number(value=60, label="Timeout (s) before falling back to the default composer", minimum=1),
               gr.Checkbox(value=True, label="Strict: remove unsupported sentences")]
    answer_box = gr.HTML()
    next_lines = gr.Radio(label="Next inquiring lines", choices=[])
    ask_button.click(h.ask, [question, *llm], [answer_box, next_lines], api_name=False)
    question.submit(h.ask, [question, *llm], [answer_box, next_lines], api_name=False)
    next_lines.input(h.follow, [next_lines, *llm], [question, answer_box, next_lines], api_name=False)


def _notes_tab(h: Handlers, page: gr.Blocks) -> None:
    query = gr.Textbox(label="Search notes")
    listing = gr.HTML()
    query.submit(h.browse, query, listing, api_name=False)
    page.load(h.browse, query, listing, api_name=False)
    with gr.Accordion("Add a note", open=False):
        fields = [gr.File(label="Upload a .md note", file_types=[".md"]),
                  gr.Textbox(label="id (lowercase-slug)"),
                  gr.Textbox(label="title (a question ending in ?)"),
                  gr.Textbox(label="summary (1-3 sentences)", lines=2),
                  gr.Textbox(label="body (120-400 words)", lines=8),
                  gr.Textbox(label="sources, one per line: title | authors | year | url", lines=2),
                  gr.Textbox(label="tags (comma-separated)"),
                  gr.Textbox(label="related note ids (comma-separated)")]
        add_button = gr.Button("Validate and add")
        add_status = gr.Textbox(label="Result", interactive=False, lines=4)
        add_button.click(h.add, fields, add_status, api_name=False)
    with gr.Row():
        update_button = gr.Button("Update index")  # only notes added, edited or deleted since the last build
        rebuild_button = gr.Button("Full rebuild", variant="secondary")  # re-embeds every note
    status = gr.Textbox(label="Index", interactive=False)
    update_button.click(lambda progress=gr.Progress(): h.update(False, progress), None, status, api_name=False)
    rebuild_button.click(lambda progress=gr.Progress(): h.update(True, progress), None, status, api_name=False)


def _score_tab(h: Handlers) -> None:
    pasted = gr.Textbox(label="Answer with citations ([note-id] or [1] with a Sources list)", lines=10)
    judge_mode = gr.Radio(list(JUDGE_MODES), value="auto", label="Grounding judge",
                          info="auto: the feature model where it is certain, the LLM judge for the rest (if installed); "
                               "features: fast, surface checks only; llm: the judge reads every sentence that is not a quote")
    score_button = gr.Button("Score")
    report = gr.HTML()
    score_button.click(h.score, [pasted, judge_mode], report, api_name=False)


def _api_endpoints(bench: Workbench) -> None:
    """Named endpoints for gradio_client: the same JSON as `inquire ask --json` / `inquire score --json`."""
    with gr.Row(visible=False):
        api_in, api_out = gr.Textbox(), gr.JSON()
        api_judge = gr.Radio(list(JUDGE_MODES), value="auto")
        gr.Button().click(_api(bench.ask), api_in, api_out, api_name="ask")
        gr.Button().click(_api(bench.score), [api_in, api_judge], api_out, api_name="score")
        gr.Button().click(_api(bench.add_note), api_in, api_out, api_name="add_note")
        gr.Button().click(_api(bench.rebuild), None, api_out, api_name="rebuild")


def build_page(bench: Workbench) -> gr.Blocks:
    h = Handlers(bench)
    with gr.Blocks(title="Inquire") as page:
        gr.Markdown("# Inquire\nAsk a question of the research notes; every sentence is cited and checked against what it cites.")
        with gr.Tab("Ask"):
            _ask_tab(h)
        with gr.Tab("Notes"):
            _notes_tab(h, page)
        with gr.Tab("Score"):
            _score_tab(h)
        _api_endpoints(bench)
    return page
