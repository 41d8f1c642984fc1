"""Inquire's web page (Gradio): ask, read sources, follow next lines, add notes, score answers.

A face over `pipeline.service.Workbench`: it parses, calls and renders. `app.py` and `inquire serve` start it."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .errors import InquireError
from .settings import Settings, force_offline

force_offline()

CSS = """
.sent { padding: 1px 2px; border-radius: 3px; }
.cite { font-size: 0.85em; text-decoration: none; }
details.source { margin: 0.4em 0; }
"""
ERRORS = (InquireError, OSError)  # what a user can fix; anything else is a bug and shows as one
NO_LLM = "default (no LLM)"


def build_app(settings: Settings):
    from .service import Workbench, error_message, note_markdown

    bench = Workbench(settings, background=True)  # the model and index load while gradio imports and the page starts

    import gradio as gr

    from .ground import JUDGE_MODES
    from .llm_compose import LLMSettings, chat_model
    from .render import answer_html, note_html, score_html, streaming_html

    def api(fn):
        """API calls return the CLI's JSON; a user error comes back as a readable gr.Error, never a traceback."""
        def call(*args):
            try:
                return fn(*args)
            except ERRORS as exc:
                raise gr.Error(error_message(exc)) from None
        call.__name__ = fn.__name__
        return call

    ask, score, add_note, rebuild = api(bench.ask), api(bench.score), api(bench.add_note), api(bench.rebuild)

    def ask_view(question: str, kind: str, base_url: str, model: str, timeout: float, strict: bool, progress=gr.Progress()):
        """Without an LLM: one answer. With one: its reply streams in, then the grounded answer replaces it.
        Notes changed on disk are embedded first, with a progress bar."""
        try:
            bench.refresh(progress=lambda f, m: progress(f, desc=m))
            if kind == NO_LLM:
                answer = bench.ask(question)
            else:
                chat = chat_model(LLMSettings(kind, (model or "").strip(), (base_url or "").strip() or None, timeout_s=float(timeout or 60)))
                answer = None
                for event, value in bench.ask_stream(question, chat, bool(strict)):
                    if event == "text":
                        yield streaming_html(value), gr.update(choices=[], value=None)
                    else:
                        answer = value
        except ERRORS as exc:
            yield f'<p class="error">{_escape(error_message(exc))}</p>', gr.update(choices=[], value=None)
            return
        yield answer_html(answer, bench.notes()), gr.update(choices=answer["next_lines"], value=None)

    def follow(line: str | None, *llm):
        if not line:
            yield gr.update(), gr.update(), gr.update()
            return
        for html, lines in ask_view(line, *llm):
            yield line, html, lines

    def score_view(text: str, judge: str):
        try:
            return score_html(bench.score(text, judge))
        except ERRORS as exc:
            return f'<p class="error">{_escape(error_message(exc))}</p>'

    def add_view(upload, note_id, title, summary, body, sources, tags, related, progress=gr.Progress()):
        try:
            if upload is not None:
                path = Path(upload if isinstance(upload, str) else upload.name)
                if path.stat().st_size > 1_000_000:
                    return "The upload is over 1 MB; notes must be smaller."
                markdown = path.read_bytes().decode("utf-8")
            else:
                markdown = note_markdown(note_id, title, summary, body, sources, tags, related)
            report = bench.add_note(markdown, progress=lambda f, m: progress(f, desc=m))
        except UnicodeDecodeError:
            return "The upload is not UTF-8 text; save the note as UTF-8 Markdown."
        except ERRORS as exc:
            return error_message(exc)
        return f"Saved note '{report['id']}'. Index: {report['added']} added, {report['updated']} updated, {report['notes']} notes."

    def update_view(full: bool, progress=gr.Progress()):
        try:
            r = bench.rebuild(progress=lambda f, m: progress(f, desc=m), full=full)
        except ERRORS as exc:
            return error_message(exc)
        if full:
            return f"Rebuilt the index: {r['notes']} notes re-embedded in {r['seconds']:.1f}s."
        return (f"Updated the index in {r['seconds']:.1f}s: {r['added']} added, {r['updated']} updated, "
                f"{r['removed']} removed, {r['unchanged']} unchanged ({r['notes']} notes).")

    def browse(query: str):
        try:
            return "\n".join(note_html(n) for n in bench.search_notes(query))
        except ERRORS as exc:
            return f'<p class="error">{_escape(error_message(exc))}</p>'

    with gr.Blocks(title="Inquire") as page:
        gr.Markdown("# Inquire\nAsk a question of the research notes; every sentence is cited and checked against what it cites.")
        with gr.Tab("Ask"):
            question = gr.Textbox(label="Question", placeholder="What happens when post-training patches try to add human values?")
            ask_button = gr.Button("Ask", variant="primary")
            with gr.Accordion("LLM composer (optional)", open=False):
                gr.Markdown("Any OpenAI-compatible server (llama.cpp, vLLM, a hosted API) or Ollama. The API key is read from "
                            "the server's `OPENAI_API_KEY` environment variable, never typed here. Strict mode removes sentences "
                            "the cited notes do not support.")
                llm_kind = gr.Radio([NO_LLM, "openai", "ollama"], value=NO_LLM, label="Composer")
                llm_url = gr.Textbox(label="Base URL", placeholder="http://127.0.0.1:8080/v1")
                llm_model = gr.Textbox(label="Model name", placeholder="the name the server knows")
                llm_timeout = gr.Number(value=60, label="Timeout (s) before falling back to the default composer", minimum=1)
                llm_strict = gr.Checkbox(value=True, label="Strict: remove unsupported sentences")
            llm = [llm_kind, llm_url, llm_model, llm_timeout, llm_strict]
            answer_box = gr.HTML()
            next_lines = gr.Radio(label="Next inquiring lines", choices=[])
            ask_button.click(ask_view, [question, *llm], [answer_box, next_lines], api_name=False)
            question.submit(ask_view, [question, *llm], [answer_box, next_lines], api_name=False)
            next_lines.input(follow, [next_lines, *llm], [question, answer_box, next_lines], api_name=False)
        with gr.Tab("Notes"):
            query = gr.Textbox(label="Search notes")
            listing = gr.HTML()
            query.submit(browse, query, listing, api_name=False)
            page.load(browse, query, listing, api_name=False)
            with gr.Accordion("Add a note", open=False):
                upload = gr.File(label="Upload a .md note", file_types=[".md"])
                note_id = gr.Textbox(label="id (lowercase-slug)")
                title = gr.Textbox(label="title (a question ending in ?)")
                summary = gr.Textbox(label="summary (1-3 sentences)", lines=2)
                body = gr.Textbox(label="body (120-400 words)", lines=8)
                sources = gr.Textbox(label="sources, one per line: title | authors | year | url", lines=2)
                tags = gr.Textbox(label="tags (comma-separated)")
                related = gr.Textbox(label="related note ids (comma-separated)")
                add_button = gr.Button("Validate and add")
                add_status = gr.Textbox(label="Result", interactive=False, lines=4)
                add_button.click(add_view, [upload, note_id, title, summary, body, sources, tags, related], add_status, api_name=False)
            with gr.Row():
                update_button = gr.Button("Update index")  # only notes added, edited or deleted since the last build
                rebuild_button = gr.Button("Full rebuild", variant="secondary")  # re-embeds every note
            rebuild_status = gr.Textbox(label="Index", interactive=False)
            update_button.click(lambda progress=gr.Progress(): update_view(False, progress), None, rebuild_status, api_name=False)
            rebuild_button.click(lambda progress=gr.Progress(): update_view(True, progress), None, rebuild_status, api_name=False)
        with gr.Tab("Score"):
            pasted = gr.Textbox(label="Answer with citations ([note-id] or [1] with a Sources list)", lines=10)
            judge_mode = gr.Radio(list(JUDGE_MODES), value="auto", label="Grounding judge",
                                  info="auto: the feature model where it is certain, the LLM judge for the rest (if installed); "
                                       "features: fast, surface checks only; llm: the judge reads every sentence that is not a quote")
            score_button = gr.Button("Score")
            report = gr.HTML()
            score_button.click(score_view, [pasted, judge_mode], report, api_name=False)
        # Named API endpoints (gradio_client): same JSON as `inquire ask --json` / `inquire score --json`.
        with gr.Row(visible=False):
            api_in, api_out = gr.Textbox(), gr.JSON()
            api_judge = gr.Radio(list(JUDGE_MODES), value="auto")
            gr.Button().click(ask, api_in, api_out, api_name="ask")
            gr.Button().click(score, [api_in, api_judge], api_out, api_name="score")
            gr.Button().click(add_note, api_in, api_out, api_name="add_note")
            gr.Button().click(rebuild, None, api_out, api_name="rebuild")
    return page


def _escape(text: str) -> str:
    from html import escape

    return escape(text).replace("\n", "<br>")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve Inquire's web page.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default; 0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--corpus", help="notes folder (default: env INQUIRE_CORPUS, else corpus/)")
    parser.add_argument("--index", help="index folder (default: env INQUIRE_INDEX, else index/)")
    args = parser.parse_args(argv)
    settings = Settings()
    settings = replace(settings, corpus_dir=Path(args.corpus) if args.corpus else settings.corpus_dir,
                       index_dir=Path(args.index) if args.index else settings.index_dir)
    page = build_app(settings)
    page.queue(default_concurrency_limit=4).launch(server_name=args.host, server_port=args.port, show_error=False,
                                                   max_file_size="1mb", css=CSS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
