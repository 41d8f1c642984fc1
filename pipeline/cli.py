"""The `inquire` command line: a thin shell over the pipeline."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from .errors import InquireError, UserError
from .settings import Settings, force_offline

EXIT_OK, EXIT_PROBLEM = 0, 1  # argparse itself exits 2 on usage errors
COMMANDS = "inquire.commands"  # the entry-point group (pyproject.toml) of the commands evaluation/ provides


def _settings(args) -> Settings:
    """Settings from the environment (read there, once), with --corpus/--index on top."""
    settings = Settings()
    return replace(settings, corpus_dir=Path(args.corpus) if args.corpus else settings.corpus_dir,
                   index_dir=Path(args.index) if args.index else settings.index_dir)


def _emit(args, payload: dict, text: str) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False) if args.json else text)


def _log(message: str) -> None:
    print(f"inquire: {message}", file=sys.stderr)


def cmd_check(args) -> int:
    """Validate every note in the corpus; exit 1 naming each problem."""
    from .notes import load_corpus

    corpus = load_corpus(_settings(args).corpus_dir)
    for problem in corpus.problems:
        print(problem, file=sys.stderr)
    payload = {"notes": len(corpus.notes), "problems": [str(p) for p in corpus.problems]}
    _emit(args, payload, f"{len(corpus.notes)} notes valid" if not corpus.problems else f"{len(corpus.problems)} problem(s) found")
    return EXIT_PROBLEM if corpus.problems else EXIT_OK


def cmd_notes(args) -> int:
    """List the notes (id and title; --json for the full records)."""
    from .notes import load_corpus

    corpus = load_corpus(_settings(args).corpus_dir)
    _emit(args, {"notes": [n.listing() for n in corpus.notes]}, "\n".join(f"{n.id}\t{n.title}" for n in corpus.notes))
    return EXIT_OK


def _report_text(report: dict) -> str:
    """A build report's JSON (`BuildReport.to_json`) as one or two lines."""
    text = (f"{report['notes']} notes: {report['added']} added, {report['updated']} updated, {report['removed']} removed, "
            f"{report['unchanged']} unchanged in {report['seconds']:.1f}s")
    return f"{report['reason']}\n{text}" if report.get("reason") else text


def cmd_index(args) -> int:
    """Build or update the index from the corpus (only new or edited notes are embedded)."""
    from .embed import load_embedder
    from .index import build_index

    settings = _settings(args)
    report = build_index(settings, load_embedder(settings.batch_size), full=args.full)
    _emit(args, report.to_json(), _report_text(report.to_json()))
    return EXIT_OK


def cmd_add(args) -> int:
    """Validate a note file, copy it into the corpus and update the index."""
    from .embed import load_embedder
    from .notes import NoteError, read_note_text
    from .service import add_note

    settings = _settings(args)
    source = Path(args.file)
    text, problems = read_note_text(source)  # the file's own checks: symlink, size, encoding
    if text is None:
        raise NoteError(problems)
    report = add_note(settings, text, load_embedder(settings.batch_size), replace=args.replace, origin=str(source),
                      expected_id=source.stem)
    _emit(args, report, f"added {report['saved_as']}\n{_report_text(report)}")
    return EXIT_OK


def cmd_search(args) -> int:
    """Hybrid search over the notes."""
    from .service import load_engine

    engine = load_engine(_settings(args), _log)
    hits = engine.search.search(args.query, args.k)
    payload = {"query": args.query, "results": [{"id": h.id, "title": h.title, "score": round(h.score, 6)} for h in hits]}
    _emit(args, payload, "\n".join(f"{h.score:.4f}  {h.id}  {h.title}" for h in hits))
    return EXIT_OK


def cmd_ask(args) -> int:
    """Answer a question from the notes, every sentence cited and scored for grounding."""
    from .service import load_engine
    from .present import answer_markdown

    llm = None
    if args.llm:
        from .llm_compose import LLMFailure, LLMSettings, chat_model

        try:
            llm = chat_model(LLMSettings(args.llm, args.model or "", args.base_url, timeout_s=args.llm_timeout))
        except LLMFailure as exc:
            raise UserError(str(exc)) from None
    engine = load_engine(_settings(args), _log, llm=llm, strict=not args.no_strict, judge=_judge(args))
    answer = engine.ask(args.question, args.k)
    _emit(args, answer.to_json(), answer_markdown(answer))
    return EXIT_OK


def _score_table(report: dict) -> str:
    rows = ["support: 0 to 1; a sentence is supported when its support reaches the line of the stage that decided it",
            f"{'support':>7}  {'line':>4}  verdict                   sentence"]
    for s in report["sentences"]:
        rows.append(f"{s['support']:>7.3f}  {s['threshold']:>4.2f}  {s['verdict']:25} {s['text'][:90]} {s['citations']}")
        if not s["supported"] and s["unsupported"]:
            rows.append(f"{'':15}unsupported: {'; '.join(s['unsupported'][:4])}")
        if s.get("clashes_with"):
            rows.append(f"{'':15}compare with [{s['clashes_with']['id']}]: {s['clashes_with']['text'][:160]}")
    rows.append(f"supported {report['supported_fraction']:.2f}  citation recall {report['citation_recall']:.2f}  "
                f"precision {report['citation_precision']:.2f}  unknown citations: {', '.join(report['unknown_citations']) or 'none'}")
    return "\n".join(rows)


def _judge(args):
    from .service import JudgeChoice

    return JudgeChoice(args.judge, args.judge_url, args.judge_model)


def cmd_score(args) -> int:
    """Score a cited answer (Markdown file, or - for stdin) for grounding in the notes."""
    from .service import load_engine, score_text

    engine = load_engine(_settings(args), _log, judge=_judge(args))
    if args.judge != "features":
        _log(f"grounding judge: {engine.judge_note}")
    if args.batch:
        from .service import score_batch

        results = score_batch(engine, Path(args.batch).read_text(encoding="utf-8").splitlines(), args.batch)
        table = [f"{'id':>12}  sentences  supported  cit.recall  cit.precision  unknown"]
        table += [f"{str(r['id'])[:12]:>12}  {len(r['sentences']):9}  {r['supported_fraction']:9.2f}  {r['citation_recall']:10.2f}  "
                  f"{r['citation_precision']:13.2f}  {len(r['unknown_citations'])}" for r in results]
        _emit(args, {"results": results}, "\n".join(table))
        return EXIT_OK
    if args.file in (None, "-"):
        text = sys.stdin.read()
    else:
        path = Path(args.file)
        if not path.is_file():
            raise UserError(f"{path} does not exist; pass a Markdown file or - for standard input")
        text = path.read_text(encoding="utf-8", errors="replace")
    report = score_text(engine, text)
    _emit(args, report, _score_table(report))
    return EXIT_OK


def _evaluation(name: str):
    """The evaluation's function behind `inquire NAME`, found through the `inquire.commands` entry points that
    pyproject.toml declares, so nothing in pipeline/ imports evaluation/ (it is loaded only when asked for)."""
    from importlib.metadata import entry_points

    found = entry_points(group=COMMANDS, name=name)
    if not found:
        raise UserError(f"inquire {name} lives in evaluation/ and is found through the '{COMMANDS}' entry points, but "
                           f"this install has no '{name}' among them; reinstall Inquire with `make install` "
                           f"(or `.venv/bin/pip install -e .`)")
    return next(iter(found)).load()


def cmd_bench(args) -> int:
    """Run the benchmarks (--quick: one small run; otherwise the full table, written to bench/results.json)."""
    import importlib.util

    if importlib.util.find_spec("langchain_community") is None:  # the peer the benchmarks compare against
        raise UserError("inquire bench needs langchain-community for its LangChain peer; install it with "
                           "`.venv/bin/pip install -e '.[bench]'` (or run `make bench`, which does)")
    result, text = _evaluation("bench")(quick_only=args.quick)
    _emit(args, result, text)
    return EXIT_OK


def cmd_eval(args) -> int:
    """Evaluate the answers on the hand-written questions (evaluation/data/answer_eval_*.jsonl); writes bench/answers.json."""
    result, text = _evaluation("eval")(settings=_settings(args), log=_log)
    _emit(args, result, text)
    return EXIT_OK


def cmd_serve(args) -> int:
    """Serve the web page (Gradio) on --host/--port; any address but loopback needs --auth FILE (or --no-auth)."""
    from .web import serve

    return serve(args, _settings(args))


def _read_password(name: str) -> str:
    """The password from standard input (a terminal asks twice, without echo): never from the command line,
    where other users of the machine can read it in the process list."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != first:
            raise UserError("the two passwords differ; nothing was changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user(args) -> int:
    """Add or remove an account in a users file: inquire user add NAME --role reader|editor --auth FILE (the
    password is read from standard input), inquire user remove NAME --auth FILE."""
    from .accounts import add_user, remove_user

    path = Path(args.auth)
    if args.action == "add":
        account = add_user(path, args.name, args.role, _read_password(args.name))
        _emit(args, {"user": account.name, "role": account.role, "auth": str(path)}, f"{account.name} ({account.role}) saved in {path}")
    else:
        remove_user(path, args.name)
        _emit(args, {"removed": args.name, "auth": str(path)}, f"{args.name} removed from {path}")
    return EXIT_OK


def cmd_history(args) -> int:
    """The kept versions of a note (every replace, delete or restore through Inquire keeps the old file)."""
    from .history import history_json

    found = history_json(_settings(args).corpus_dir, args.id)
    text = "\n".join(f"{v['version']:>3}  {v['saved']}  {v['reason']:8} {v['by'] or '-':12} {v['sha256'][:12]}"
                     for v in found["versions"]) or f"note '{args.id}' has no kept versions"
    _emit(args, found, text)
    return EXIT_OK


def cmd_restore(args) -> int:
    """Put a kept version of a note back (the text it replaces is kept too) and update the index."""
    from .embed import load_embedder
    from .service import restore_note

    settings = _settings(args)
    report = restore_note(settings, args.id, args.version, load_embedder(settings.batch_size))
    _emit(args, report, f"restored version {args.version} of {args.id}\n{_report_text(report)}")
    return EXIT_OK


def cmd_delete(args) -> int:
    """Remove a note from the corpus, keeping its file in history (inquire restore brings it back)."""
    from .embed import load_embedder
    from .service import delete_note

    settings = _settings(args)
    report = delete_note(settings, args.id, load_embedder(settings.batch_size))
    _emit(args, report, f"deleted {args.id} (kept as version {report['version']})\n{_report_text(report)}")
    return EXIT_OK


def judge_options(p: argparse.ArgumentParser) -> None:
    from .ground import JUDGE_MODES

    p.add_argument("--judge", choices=JUDGE_MODES, default="auto",
                   help="grounding: auto (features where certain, the LLM judge for the rest, if installed), features, llm")
    p.add_argument("--judge-url", help="an OpenAI-compatible server for the judge, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--judge-model", help="the judge model: its name on --judge-url, or a local one (see python -m pipeline.judge status)")


def parser() -> argparse.ArgumentParser:
    from .accounts import ROLES

    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--corpus", help="notes folder (default: env INQUIRE_CORPUS, else corpus/)")
    shared.add_argument("--index", help="index folder (default: env INQUIRE_INDEX, else index/)")
    shared.add_argument("--json", action="store_true", help="print JSON")
    top = argparse.ArgumentParser(prog="inquire", description="Ask cited questions of a corpus of research notes.")
    sub = top.add_subparsers(dest="command", required=True)

    def command(name, func, **kw):
        p = sub.add_parser(name, parents=[shared], help=func.__doc__, description=func.__doc__, **kw)
        p.set_defaults(func=func)
        return p

    command("check", cmd_check)
    command("notes", cmd_notes)
    command("index", cmd_index).add_argument("--full", action="store_true", help="re-embed every note")
    p = command("add", cmd_add)
    p.add_argument("file", help="the note's Markdown file")
    p.add_argument("--replace", action="store_true", help="overwrite a note with the same id")
    for name, func, arg in (("search", cmd_search, "query"), ("ask", cmd_ask, "question")):
        p = command(name, func)
        p.add_argument(arg)
        p.add_argument("--k", type=int, default=None if name == "ask" else 5, help="how many notes to retrieve")
    p.add_argument("--llm", choices=["openai", "ollama"], help="compose with an LLM server (OpenAI-compatible or Ollama)")
    p.add_argument("--model", help="the model name the LLM server knows")
    p.add_argument("--base-url", help="the LLM server's URL, e.g. http://127.0.0.1:8080/v1 (API key from OPENAI_API_KEY)")
    p.add_argument("--llm-timeout", type=float, default=60.0, help="seconds to wait for the LLM before falling back")
    p.add_argument("--no-strict", action="store_true", help="keep unsupported LLM sentences (flagged) instead of removing them")
    judge_options(p)
    p = command("score", cmd_score)
    p.add_argument("file", nargs="?", help="answer in Markdown, or - for standard input")
    p.add_argument("--batch", help="JSONL file of {'id', 'answer'} records")
    judge_options(p)
    p = command("bench", cmd_bench)
    p.add_argument("--quick", action="store_true", help="2,000 synthetic notes only")
    command("eval", cmd_eval)
    from .web import add_serve_options

    add_serve_options(command("serve", cmd_serve))
    p = command("user", cmd_user)
    p.add_argument("action", choices=["add", "remove"])
    p.add_argument("name", help="the account's name")
    p.add_argument("--role", choices=ROLES, default="reader", help="reader: ask, search, score, read; editor: also add, replace, restore, rebuild")
    p.add_argument("--auth", required=True, help="the users file (created if missing; it holds salted scrypt hashes, never passwords)")
    p = command("history", cmd_history)
    p.add_argument("id", help="the note's id")
    p = command("restore", cmd_restore)
    p.add_argument("id", help="the note's id")
    p.add_argument("version", type=int, help="the version number (inquire history ID)")
    command("delete", cmd_delete).add_argument("id", help="the note's id")
    return top


def main(argv: list[str] | None = None) -> int:
    force_offline()
    args = parser().parse_args(argv)
    from .notes import NoteError

    try:
        return args.func(args)
    except NoteError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        if args.json:
            print(json.dumps({"error": "invalid note", "problems": [str(p) for p in exc.problems]}, indent=2))
        return EXIT_PROBLEM
    except (InquireError, OSError) as exc:  # anything else is a bug: let it show as one
        _log(str(exc))
        if args.json:
            print(json.dumps({"error": str(exc)}))
        return EXIT_PROBLEM


if __name__ == "__main__":
    sys.exit(main())
