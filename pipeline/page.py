"""The web page's layout and handlers (Gradio). Each handler asks the gate whether the caller may act (role and
rate limit, on the server: a hidden control or a hand-made request is no way round it), parses the form, calls
the page service and renders; user errors become messages, anything else is a bug and shows as one. Imported by
`pipeline.web` once the page service has started loading, since importing Gradio takes seconds."""
from __future__ import annotations

import functools
from html import escape
from pathlib import Path

import gradio as gr

from .errors import InquireError, UserError
from .ground import JUDGE_MODES
from .guard import Gate
from .llm_compose import chat_model
from .model_servers import NO_LLM, Composers
from .notes import MAX_FILE_BYTES
from .render import answer_html, history_html, listing_html, score_html, streaming_html
from .service import PageService, error_message, note_markdown

CSS = """
.sent { padding: 1px 2px; border-radius: 3px; }
.cite { font-size: 0.85em; text-decoration: none; }
details.source { margin: 0.4em 0; }
.inquire-answer .brief { font-size: 1.15em; line-height: 1.6; margin: 0.6em 0; }
.inquire-answer .headline { font-size: 1.05em; }
details.evidence { margin: 0.6em 0; }
details.evidence > summary { cursor: pointer; font-weight: 600; }
.inquire-answer .legend { color: #555; }
details.version pre { white-space: pre-wrap; }
"""
ERRORS = (InquireError, OSError)  # what a user can fix; anything else is a bug and shows as one
FORM_FIELDS = 8  # upload, id, title, summary, body, sources, tags, related


def _error_html(exc: Exception) -> str:
    return f'<p class="error">{escape(error_message(exc)).replace(chr(10), "<br>")}</p>'


def _api(fn):
    """API calls return the CLI's JSON; a user error or a refusal comes back as a readable gr.Error, never a
    traceback. `functools.wraps` keeps `fn`'s signature, so Gradio still hands it the request."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ERRORS as exc:
            raise gr.Error(error_message(exc)) from None
    return call


def _unchanged(n: int) -> list[dict]:
    """n "leave as is" updates, each its own dict: Gradio consumes an update as it applies it, so one dict
    repeated would change only the first output."""
    return [gr.update() for _ in range(n)]


def _sources_lines(note: dict) -> str:
    return "\n".join(f"{s['title']} | {s['authors']} | {s['year']} | {s['url']}" for s in note["sources"])


class Handlers:
    """What the page's controls do, over one page service, each call first passed by the gate."""

    def __init__(self, service: PageService, gate: Gate, composers: Composers):
        self.service, self.gate, self.composers = service, gate, composers

    def ask(self, question: str, composer: str, base_url: str, model: str, timeout: float, strict: bool,
            request: gr.Request, progress=gr.Progress()):
        """Without an LLM: one answer. With one: its reply streams in, then the grounded answer replaces it.
        Notes changed on disk are embedded first, with a progress bar."""
        service = self.service
        def track(fraction: float, message: str) -> None:  # notes changed on disk are embedded first
            progress(fraction, desc=message)

        try:
            self.gate.check(request, "ask")
            llm = self.composers.settings(composer, base_url, model, timeout)
            if llm is None:
                answer = service.ask(question, progress=track)
            else:
                answer = None
                for event, value in service.ask_stream(question, chat_model(llm), bool(strict), progress=track):
                    if event == "text":
                        yield streaming_html(value), gr.update(choices=[], value=None)
                    else:
                        answer = value
        except ERRORS as exc:
            yield _error_html(exc), gr.update(choices=[], value=None)
            return
        yield answer_html(answer, service.notes()), gr.update(choices=answer["next_lines"], value=None)

    def follow(self, line: str | None, composer, base_url, model, timeout, strict, request: gr.Request):
        """A next inquiring line, clicked: it becomes the question and is asked."""
        if not line:
            yield gr.update(), gr.update(), gr.update()
            return
        for html, lines in self.ask(line, composer, base_url, model, timeout, strict, request):
            yield line, html, lines

    def score(self, text: str, judge: str, request: gr.Request) -> str:
        try:
            self.gate.check(request, "score")
            return score_html(self.service.score(text, judge))
        except ERRORS as exc:
            return _error_html(exc)

    def browse(self, query: str, request: gr.Request) -> str:
        try:
            self.gate.check(request, "search" if (query or "").strip() else "read")
            return listing_html(self.service.search_notes(query), len(self.service.notes()), query)
        except ERRORS as exc:
            return _error_html(exc)

    def whoami(self, request: gr.Request):
        """Who is signed in, and the editor's desk shown only to those who may use it (the gate still checks)."""
        role = self.gate.role_of(request)
        name = getattr(request, "username", None) if self.gate.accounts else None
        line = f"Signed in as **{name}** ({role}). [Sign out](/logout)" if name else ""
        return line, gr.Tab(visible=role == "editor")

    def save(self, upload, note_id, title, summary, body, sources, tags, related, replace: bool, query: str,
             request: gr.Request, progress=gr.Progress()):
        """Validate and save (replacing keeps the old text in history); on success the list shows the note and
        the form clears, on failure every fault is listed and the form keeps what was typed."""
        keep_form = _unchanged(FORM_FIELDS + 1)
        try:
            caller = self.gate.check(request, "replace" if replace else "add")
            earlier = []
            if upload is not None:
                path = Path(upload if isinstance(upload, str) else upload.name)
                if path.stat().st_size > MAX_FILE_BYTES:
                    return f"The upload is over {MAX_FILE_BYTES:,} bytes; notes must be smaller.", gr.update(), *keep_form
                markdown = path.read_bytes().decode("utf-8")
            else:
                markdown, earlier = note_markdown(note_id, title, summary, body, sources, tags, related)
            r = self.service.add_note(markdown, progress=lambda f, m: progress(f, desc=m), replace=bool(replace),
                                    by=caller.name, address=caller.address, earlier=earlier)
        except UnicodeDecodeError:
            return "The upload is not UTF-8 text; save the note as UTF-8 Markdown.", gr.update(), *keep_form
        except ERRORS as exc:
            return error_message(exc), gr.update(), *keep_form
        kept = f" The old text is kept as version {r['version']}." if r["version"] else ""
        status = (f"Saved note '{r['id']}'.{kept} Index: {r['added']} added, {r['updated']} updated, {r['notes']} notes.")
        cleared = [gr.update(value=None)] + [gr.update(value="") for _ in range(FORM_FIELDS - 1)] + [gr.update(value=False)]
        return status, self.browse(query, request), *cleared

    def load_note(self, note_id: str, request: gr.Request):
        """Fill the form with a note's current text, to edit it and replace it."""
        try:
            self.gate.check(request, "replace")
            note = self.service.notes().get((note_id or "").strip())
            if note is None:
                return f"There is no note '{note_id}'; the Notes tab lists them.", *_unchanged(FORM_FIELDS + 1)
        except ERRORS as exc:
            return error_message(exc), *_unchanged(FORM_FIELDS + 1)
        return (f"Loaded '{note['id']}'; edit it and save with 'Replace' ticked.", gr.update(value=None), note["id"],
                note["title"], note["summary"], note["body"], _sources_lines(note), ", ".join(note["tags"]),
                ", ".join(note["related"]), True)

    def history(self, note_id: str, request: gr.Request):
        try:
            self.gate.check(request, "history")
            found = self.service.note_history((note_id or "").strip())
        except ERRORS as exc:
            return _error_html(exc), gr.update(choices=[], value=None)
        numbers = [v["version"] for v in found["versions"]]
        return history_html(found), gr.update(choices=numbers, value=numbers[-1] if numbers else None)

    def restore(self, note_id: str, version, query: str, request: gr.Request, progress=gr.Progress()):
        try:
            caller = self.gate.check(request, "restore")
            if version in (None, ""):
                raise UserError("choose a version to restore (press 'Show history' first)")
            r = self.service.restore((note_id or "").strip(), int(version), caller.name, caller.address,
                                   progress=lambda f, m: progress(f, desc=m))
        except ERRORS as exc:
            return error_message(exc), gr.update(), gr.update()
        status = (f"Restored version {r['restored']} of '{r['id']}'"
                  + (f"; the text it replaced is kept as version {r['version']}." if r["version"] else "."))
        return status, self.browse(query, request), self.history(note_id, request)[0]

    def update(self, full: bool, request: gr.Request, progress) -> str:
        try:
            caller = self.gate.check(request, "rebuild")
            r = self.service.rebuild(progress=lambda f, m: progress(f, desc=m), full=full, by=caller.name, address=caller.address)
        except ERRORS as exc:
            return error_message(exc)
        if full:
            return f"Rebuilt the index: {r['notes']} notes re-embedded in {r['seconds']:.1f}s."
        return (f"Updated the index in {r['seconds']:.1f}s: {r['added']} added, {r['updated']} updated, "
                f"{r['removed']} removed, {r['unchanged']} unchanged ({r['notes']} notes).")


def _private(name: str) -> dict:
    """A page-only event: named (so it can be found in the config) but not offered to API clients."""
    return {"api_name": name, "api_visibility": "private"}


def _llm_inputs(composers: Composers) -> list:
    if composers.free:
        gr.Markdown("Any OpenAI-compatible server (llama.cpp, vLLM, a hosted API) or Ollama. The API key is read from "
                    "the server's `OPENAI_API_KEY` environment variable, never typed here. Strict mode removes sentences "
                    "the cited notes do not support.")
        choice = gr.Radio(composers.choices(), value=NO_LLM, label="Composer")
        where = [gr.Textbox(label="Base URL", placeholder="http://127.0.0.1:8080/v1"),
                 gr.Textbox(label="Model name", placeholder="the name the server knows")]
    else:  # served to a group: only the operator's servers, by name; no address field to point the server anywhere
        gr.Markdown("The LLM servers below were chosen by the operator of this page. Strict mode removes sentences "
                    "the cited notes do not support.")
        choice = gr.Dropdown(composers.choices(), value=NO_LLM, label="Composer (server: model)")
        where = [gr.State(""), gr.State("")]
    return [choice, *where, gr.Number(value=60, label="Timeout (s) before falling back to the default composer", minimum=1),
            gr.Checkbox(value=True, label="Strict: remove unsupported sentences")]


def _ask_tab(h: Handlers) -> None:
    question = gr.Textbox(label="Question", placeholder="What happens when post-training patches try to add human values?")
    ask_button = gr.Button("Ask", variant="primary")
    with gr.Accordion("LLM composer (optional)", open=False):
        llm = _llm_inputs(h.composers)
    answer_box = gr.HTML()
    next_lines = gr.Radio(label="Next inquiring lines", choices=[])
    ask_button.click(h.ask, [question, *llm], [answer_box, next_lines], **_private("page_ask"))
    question.submit(h.ask, [question, *llm], [answer_box, next_lines], **_private("page_ask_submit"))
    next_lines.input(h.follow, [next_lines, *llm], [question, answer_box, next_lines], **_private("page_follow"))


def _notes_tab(h: Handlers, page: gr.Blocks) -> tuple[gr.Textbox, gr.HTML]:
    with gr.Row():
        query = gr.Textbox(label="Search notes", placeholder="type to filter; empty lists every note", scale=5)
        search_button = gr.Button("Search", scale=1)
    listing = gr.HTML()
    query.input(h.browse, query, listing, trigger_mode="always_last", show_progress="hidden", **_private("page_filter"))
    query.submit(h.browse, query, listing, **_private("page_search"))
    search_button.click(h.browse, query, listing, **_private("page_search_button"))
    page.load(h.browse, query, listing, **_private("page_list"))
    return query, listing


def _desk_tab(h: Handlers, query: gr.Textbox, listing: gr.HTML) -> None:
    gr.Markdown("Add a note, or replace one: its current text is kept in history and can be restored below. "
                "A note is saved only if it is valid; every fault is listed at once.")
    with gr.Row():
        load_id = gr.Textbox(label="Edit an existing note: its id", scale=4)
        load_button = gr.Button("Load into the form", scale=1)
    fields = [gr.File(label="Upload a .md note", file_types=[".md"]),
              gr.Textbox(label="id (lowercase-slug)"),
              gr.Textbox(label="title (a question ending in ?)"),
              gr.Textbox(label="summary (1-3 sentences)", lines=2),
              gr.Textbox(label="body (120-400 words)", lines=8),
              gr.Textbox(label="sources, one per line: title | authors | year | url", lines=2),
              gr.Textbox(label="tags (comma-separated)"),
              gr.Textbox(label="related note ids (comma-separated)")]
    replace = gr.Checkbox(label="Replace the note with this id (its current text is kept in history)", value=False)
    add_button = gr.Button("Validate and add", variant="primary")
    add_status = gr.Textbox(label="Result", interactive=False, lines=4)
    add_button.click(h.save, [*fields, replace, query], [add_status, listing, *fields, replace], **_private("page_save"))
    load_button.click(h.load_note, load_id, [add_status, *fields, replace], **_private("page_load_note"))
    gr.Markdown("### History and restore")
    with gr.Row():
        history_id = gr.Textbox(label="Note id for history", scale=3)
        history_button = gr.Button("Show history", scale=1)
    version = gr.Dropdown(label="Version", choices=[], interactive=True)
    restore_button = gr.Button("Restore this version")
    restore_status = gr.Textbox(label="Restore", interactive=False)
    history_box = gr.HTML()
    history_button.click(h.history, history_id, [history_box, version], **_private("page_history"))
    restore_button.click(h.restore, [history_id, version, query], [restore_status, listing, history_box], **_private("page_restore"))
    gr.Markdown("### Index")
    with gr.Row():
        update_button = gr.Button("Update index")  # only notes added, edited or deleted since the last build
        rebuild_button = gr.Button("Full rebuild", variant="secondary")  # re-embeds every note
    status = gr.Textbox(label="Index", interactive=False)

    def update(request: gr.Request, progress=gr.Progress()):
        return h.update(False, request, progress)

    def rebuild(request: gr.Request, progress=gr.Progress()):
        return h.update(True, request, progress)

    update_button.click(update, None, status, **_private("page_update"))
    rebuild_button.click(rebuild, None, status, **_private("page_rebuild"))


def _score_tab(h: Handlers) -> None:
    pasted = gr.Textbox(label="Answer with citations ([note-id] or [1] with a Sources list)", lines=10)
    judge_mode = gr.Radio(list(JUDGE_MODES), value="auto", label="Grounding judge",
                          info="auto: the feature model where it is certain, the LLM judge for the rest (if installed); "
                               "features: fast, surface checks only; llm: the judge reads every sentence that is not a quote")
    score_button = gr.Button("Score")
    report = gr.HTML()
    score_button.click(h.score, [pasted, judge_mode], report, **_private("page_score"))


def _api_endpoints(service: PageService, gate: Gate) -> None:
    """Named endpoints for gradio_client: the same JSON as `inquire ask --json` / `inquire score --json`, and
    the note writes. Each passes the gate first, as the page's controls do."""

    @_api
    def ask(question: str, request: gr.Request) -> dict:
        gate.check(request, "ask")
        return service.ask(question)

    @_api
    def score(text: str, judge: str, request: gr.Request) -> dict:
        gate.check(request, "score")
        return service.score(text, judge)

    @_api
    def add_note(markdown: str, request: gr.Request) -> dict:
        caller = gate.check(request, "add")
        return service.add_note(markdown, by=caller.name, address=caller.address)

    @_api
    def replace_note(markdown: str, request: gr.Request) -> dict:
        caller = gate.check(request, "replace")
        return service.add_note(markdown, replace=True, by=caller.name, address=caller.address)

    @_api
    def rebuild(request: gr.Request) -> dict:
        caller = gate.check(request, "rebuild")
        return service.rebuild(by=caller.name, address=caller.address)

    @_api
    def history(note_id: str, request: gr.Request) -> dict:
        gate.check(request, "history")
        return service.note_history(note_id)

    @_api
    def restore(note_id: str, version: float, request: gr.Request) -> dict:
        caller = gate.check(request, "restore")
        return service.restore(note_id, int(version), caller.name, caller.address)

    with gr.Row(visible=False):
        api_in, api_out = gr.Textbox(), gr.JSON()
        api_judge = gr.Radio(list(JUDGE_MODES), value="auto")
        api_version = gr.Number(precision=0)
        gr.Button().click(ask, api_in, api_out, api_name="ask")
        gr.Button().click(score, [api_in, api_judge], api_out, api_name="score")
        gr.Button().click(add_note, api_in, api_out, api_name="add_note")
        gr.Button().click(replace_note, api_in, api_out, api_name="replace_note")
        gr.Button().click(rebuild, None, api_out, api_name="rebuild")
        gr.Button().click(history, api_in, api_out, api_name="history")
        gr.Button().click(restore, [api_in, api_version], api_out, api_name="restore")


def build_page(service: PageService, gate: Gate, composers: Composers) -> gr.Blocks:
    h = Handlers(service, gate, composers)
    with gr.Blocks(title="Inquire") as page:
        gr.Markdown("# Inquire\nAsk a question of the research notes; every sentence is cited and checked against what it cites.")
        signed_in = gr.Markdown()
        with gr.Tab("Ask"):
            _ask_tab(h)
        with gr.Tab("Notes"):
            query, listing = _notes_tab(h, page)
        with gr.Tab("Editor's desk", visible=gate.accounts is None) as desk:
            _desk_tab(h, query, listing)
        with gr.Tab("Score"):
            _score_tab(h)
        _api_endpoints(service, gate)
        page.load(h.whoami, None, [signed_in, desk], **_private("page_whoami"))
    return page
