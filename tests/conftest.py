import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline.settings import Settings, force_offline

force_offline()
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots and records a run leaves for a person to look at
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright never downloads a browser of its own here
SEED_QUESTION = "What happens when post-training patches try to add human values without upstream pipeline change?"
SEED_IDS = ["poisoning-survives-alignment", "sycophancy-by-design", "rlhf-truth-indifference",
            "binary-reward-calibration", "outputs-as-actions", "hard-rlvr-samples"]


@pytest.fixture(scope="session")
def embedder():
    from pipeline.embed import load_embedder

    return load_embedder()


def corpus_copy(base: Path) -> Settings:
    """The shipped corpus copied into `base`/corpus, with `base`/index as its index folder (not built)."""
    shutil.copytree(CORPUS, base / "corpus")
    return Settings(corpus_dir=base / "corpus", index_dir=base / "index")


def workspace_copy(built: Settings, base: Path) -> Settings:
    """A private, writable copy of a corpus and its built index (`built`'s folders) in `base`."""
    shutil.copytree(built.corpus_dir, base / "corpus")
    shutil.copytree(built.index_dir, base / "index")
    return Settings(corpus_dir=base / "corpus", index_dir=base / "index")


@pytest.fixture(scope="session")
def shipped(tmp_path_factory, embedder):
    """The shipped corpus copied to a temp folder, with its index built once for the session."""
    from pipeline.index import build_index

    settings = corpus_copy(tmp_path_factory.mktemp("shipped"))
    build_index(settings, embedder)
    return settings


@pytest.fixture(scope="session")
def engine(shipped, embedder):
    from pipeline.chain import AnswerEngine
    from pipeline.index import load_index

    return AnswerEngine(load_index(shipped, embedder.name, embedder.dim), embedder, shipped)


@pytest.fixture
def workspace(tmp_path, shipped):
    """A private, writable copy of the shipped corpus and its built index, for one test."""
    return workspace_copy(shipped, tmp_path)


@pytest.fixture(scope="module")
def served_workspace(tmp_path_factory, shipped):
    """A writable copy of the shipped corpus and its built index shared by one module's tests: the folders a
    served app (evaluation/server.running_app) works in."""
    return workspace_copy(shipped, tmp_path_factory.mktemp("served"))


@contextmanager
def chromium():
    """Debian's Chromium, headless, through Playwright, with nothing of its own on the network."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's Chromium is missing: `make test` installs it with apt-get install chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            yield browser
        finally:
            browser.close()


def run_cli(capsys, *args):
    from pipeline.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def cli_json(capsys, *args):
    code, out, err = run_cli(capsys, *args, "--json")
    return code, json.loads(out) if out.strip() else None, err


def note_text(note_id="new-note", title="Does a freshly added note about quokka grooming become answerable?", **over):
    fields = {
        "id": note_id,
        "title": title,
        "summary": "A test note about quokka grooming habits and their effect on reward models.",
        "sources": "  - title: \"A Made-up Study of Quokkas\"\n    authors: \"A. Tester\"\n    year: 2024\n    url: https://arxiv.org/abs/0000.00000",
        "tags": "[quokka, grooming]",
        "related": "[sycophancy-by-design]",
    }
    fields.update(over)
    body = over.pop("body", None) or " ".join(
        f"Quokka grooming sentence number {i} says that quokkas groom each other daily on Rottnest Island." for i in range(12))
    front = "\n".join(f"{k}: {v}" if k != "sources" else f"sources:\n{v}" for k, v in fields.items() if v is not None and k != "body")
    return f"---\n{front}\n---\n{body}\n"
