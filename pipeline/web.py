"""Serve Inquire's web page: `python app.py` or `inquire serve` [--host H] [--port P] [--corpus DIR] [--index DIR].

The workbench (embedder and index) starts loading in a thread first, so it loads while Gradio is imported
and the page starts; the page itself is in `pipeline/page.py`."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .settings import Settings, force_offline

force_offline()  # before Gradio is imported: no telemetry, nothing fetched


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
    from .notes import MAX_FILE_BYTES
    from .service import Workbench

    workbench = Workbench(settings, background=True)
    from .page import CSS, build_page

    build_page(workbench).queue(default_concurrency_limit=4).launch(server_name=args.host, server_port=args.port,
                                                                 show_error=False, max_file_size=MAX_FILE_BYTES, css=CSS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
