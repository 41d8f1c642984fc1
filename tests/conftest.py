import json
import shutil
from pathlib import Path

import pytest

from pipeline.settings import Settings, force_offline

force_offline()
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SEED_QUESTION = "What happens when post-training patches try to add human values without upstream pipeline change?"
SEED_IDS = ["poisoning-survives-alignment", "sycophancy-by-design", "rlhf-truth-indifference",
            "binary-reward-calibration", "outputs-as-actions", "hard-rlvr-samples"]


@pytest.fixture(scope="session")
def embedder():
    from pipeline.embed import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def shipped(tmp_path_factory, embedder):
    """The shipped corpus copied to a temp folder, with its index built once for the session."""
    from pipeline.index import build_index

    base = tmp_path_factory.mktemp("shipped")
    shutil.copytree(CORPUS, base / "corpus")
    settings = Settings(corpus_dir=base / "corpus", index_dir=base / "index")
    build_index(settings, embedder)
    return settings


@pytest.fixture(scope="session")
def engine(shipped, embedder):
    from pipeline.chain import AnswerEngine
    from pipeline.index import load_index

    return AnswerEngine(load_index(shipped, embedder.name, embedder.dim), embedder, shipped)


@pytest.fixture
def workspace(tmp_path, shipped):
    """A private, writable copy of the shipped corpus and its built index."""
    shutil.copytree(shipped.corpus_dir, tmp_path / "corpus")
    shutil.copytree(shipped.index_dir, tmp_path / "index")
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")


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
