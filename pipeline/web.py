"""Serve Inquire's web page: `python app.py` or `inquire serve` [--host H] [--port P] [--corpus DIR] [--index DIR]
[--auth FILE | --no-auth] [--llm-server 'NAME=URL MODEL,...' ...] [--llm-servers FILE] [--rate-limit N]
[--judge-url URL --judge-model M].

On loopback without accounts the page works as it always has. Served to a group (`--auth`, or any other address)
it requires a login for the page and every API call, uses only the operator's LLM servers, and rate-limits
questions and scores. Any non-loopback address without `--auth` is refused unless `--no-auth` says so.
The page service (embedder and index) starts loading in a thread first, so it loads while Gradio is imported
and the page starts; the page itself is in `pipeline/page.py`."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from .settings import Settings, force_offline

force_offline()  # before Gradio is imported: no telemetry, nothing fetched
EXIT_REFUSED = 2


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The options `inquire serve` and `python app.py` share (defined once)."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default; any other needs --auth or --no-auth)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--auth", default=os.environ.get("INQUIRE_AUTH") or None,
                        help="users file (inquire user add): every page visit and API call needs a login (env INQUIRE_AUTH)")
    parser.add_argument("--no-auth", action="store_true", help="serve a non-loopback address without accounts (prints what is open)")
    parser.add_argument("--llm-server", action="append", default=[], metavar="'NAME=URL MODEL[,MODEL]'",
                        help="an LLM server visitors may choose when served to a group (repeatable; ollama+http://... for Ollama)")
    parser.add_argument("--llm-servers", default=os.environ.get("INQUIRE_LLM_SERVERS") or None, metavar="FILE",
                        help='JSON {"servers": [{"name", "kind", "base_url", "models"}]} (env INQUIRE_LLM_SERVERS)')
    parser.add_argument("--rate-limit", type=int, default=None, metavar="N",
                        help="questions and scores a minute per user (per address without accounts); default 30 when "
                             "served to a group, off on loopback without accounts; 0 turns it off")
    parser.add_argument("--judge-url", help="an OpenAI-compatible server for the grounding judge (the operator's choice only)")
    parser.add_argument("--judge-model", help="the judge model's name on --judge-url")


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from .guard import GROUP_RATE_LIMIT, exposure_problem, is_loopback, open_warning

    problem = exposure_problem(args.host, args.port, args.auth, args.no_auth)
    if problem:
        print(f"inquire serve: {problem}", file=sys.stderr)
        return EXIT_REFUSED
    if bool(args.judge_url) != bool(args.judge_model):
        print("inquire serve: --judge-url and --judge-model go together: the server's URL and the model name it knows", file=sys.stderr)
        return EXIT_REFUSED
    group = bool(args.auth) or not is_loopback(args.host)
    rate_limit = args.rate_limit if args.rate_limit is not None else (GROUP_RATE_LIMIT if group else 0)
    from .accounts import Accounts
    from .errors import InquireError
    from .guard import Gate, RateLimiter
    from .model_servers import Composers, load_file, parse_flag

    try:
        accounts = Accounts(Path(args.auth)) if args.auth else None
        servers = (load_file(Path(args.llm_servers)) if args.llm_servers else []) + [parse_flag(f) for f in args.llm_server]
        composers = Composers(servers if group else None)
    except InquireError as exc:
        print(f"inquire serve: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.no_auth and not is_loopback(args.host):
        print(open_warning(args.host, args.port, rate_limit), file=sys.stderr)
    from .notes import MAX_FILE_BYTES
    from .service import JudgeChoice, PageService  # the heavy imports (numpy, faiss, LangChain) only once the options are sound

    service = PageService(settings, background=True, judge=JudgeChoice("auto", args.judge_url, args.judge_model))
    from .page import CSS, build_page

    page = build_page(service, Gate(accounts, RateLimiter(rate_limit)), composers)
    page.queue(default_concurrency_limit=4).launch(
        server_name=args.host, server_port=args.port, show_error=False, max_file_size=MAX_FILE_BYTES, css=CSS,
        auth=accounts.verify if accounts else None,
        auth_message="Sign in with the account the operator created for you (inquire user add).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve Inquire's web page.")
    add_serve_options(parser)
    parser.add_argument("--corpus", help="notes folder (default: env INQUIRE_CORPUS, else corpus/)")
    parser.add_argument("--index", help="index folder (default: env INQUIRE_INDEX, else index/)")
    args = parser.parse_args(argv)
    settings = Settings()
    settings = replace(settings, corpus_dir=Path(args.corpus) if args.corpus else settings.corpus_dir,
                       index_dir=Path(args.index) if args.index else settings.index_dir)
    return serve(args, settings)


if __name__ == "__main__":
    sys.exit(main())
