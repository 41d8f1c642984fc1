"""The index folder: atomic swaps, the build lock, checksums, and no code execution on load."""
import json

import pytest

from pipeline import index as index_module
from pipeline.service import open_index
from pipeline.files import sha256_file
from pipeline.index import IndexBusy, IndexCorrupt, build_index, build_lock, current_generation, load_index


def test_crash_mid_build_leaves_the_old_index_serving(workspace, embedder, monkeypatch):
    before = (workspace.index_dir / "CURRENT").read_text()
    note = workspace.corpus_dir / "dapo-clip-higher.md"
    note.write_text(note.read_text().replace("summary: >-", "summary: >-\n  Changed.", 1))

    def explode(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(index_module.faiss, "serialize_index", explode)
    with pytest.raises(index_module.IndexWriteError, match="No space left on device.*previous index still serves"):
        build_index(workspace, embedder)
    monkeypatch.undo()
    assert (workspace.index_dir / "CURRENT").read_text() == before
    assert not list(workspace.index_dir.glob(".building-*"))
    old = load_index(workspace, embedder.name, embedder.dim)
    assert len(old.notes) == 64
    report = build_index(workspace, embedder)
    assert report.updated == 1 and report.added == 0


def test_a_second_build_waits_then_says_why(workspace, embedder):
    with build_lock(workspace.index_dir, wait_seconds=0):
        with pytest.raises(IndexBusy, match="another build"):
            build_index(workspace, embedder, wait_seconds=0.3)


@pytest.mark.parametrize("victim", ["notes.json", "notes.faiss", "sentences.npy"])
def test_corrupted_files_are_detected_and_rebuilt(workspace, embedder, victim):
    gen = current_generation(workspace.index_dir)
    data = (gen / victim).read_bytes()
    (gen / victim).write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorrupt, match="checksum"):
        load_index(workspace, embedder.name, embedder.dim)
    messages = []
    repaired = open_index(workspace, embedder, messages.append)
    assert len(repaired.notes) == 64 and "rebuilding" in messages[0]


def test_hand_edited_metadata_with_matching_checksum_still_cannot_run_code(workspace, embedder):
    gen = current_generation(workspace.index_dir)
    (gen / "notes.json").write_text('{"__reduce__": "os.system", "args": ["touch /tmp/pwned"]}')
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["files"]["notes.json"] = sha256_file(gen / "notes.json")
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt):
        load_index(workspace, embedder.name, embedder.dim)


def test_questions_during_a_build_are_answered_from_the_old_index(workspace, embedder):
    from pipeline.chain import AnswerEngine

    note = workspace.corpus_dir / "dapo-clip-higher.md"
    note.write_text(note.read_text().replace("summary: >-", "summary: >-\n  Changed while a build runs.", 1))
    before = (workspace.index_dir / "CURRENT").read_text()
    messages = []
    with build_lock(workspace.index_dir, wait_seconds=0):  # another build is in progress
        index = open_index(workspace, embedder, messages.append)
        answer = AnswerEngine(index, embedder, workspace).ask("What does DAPO change in GRPO?").to_json()
    assert answer["sentences"] and "another build is running" in messages[0]
    assert (workspace.index_dir / "CURRENT").read_text() == before


def test_sentence_vectors_read_on_demand_match_those_read_whole(workspace, embedder, monkeypatch):
    from pipeline.chain import AnswerEngine

    whole = load_index(workspace, embedder.name, embedder.dim)
    monkeypatch.setattr(index_module.SentenceVectors, "IN_MEMORY_BYTES", 0)
    on_demand = load_index(workspace, embedder.name, embedder.dim)
    assert on_demand.sentence_vectors._all is None and whole.sentence_vectors._all is not None
    rows = [5, 3, 4, 100, 5, len(whole.sentence_vectors) - 1]
    assert (on_demand.sentence_vectors[rows] == whole.sentence_vectors[rows]).all()
    assert (on_demand.sentence_vectors[7:19] == whole.sentence_vectors[7:19]).all()
    question = "Does RLHF make models less calibrated?"
    a = AnswerEngine(whole, embedder, workspace).ask(question).to_json()
    b = AnswerEngine(on_demand, embedder, workspace).ask(question).to_json()
    assert a["answer"] == b["answer"] and [s["support"] for s in a["sentences"]] == [s["support"] for s in b["sentences"]]


def test_sentence_vectors_holding_pickled_objects_are_refused(workspace, embedder, tmp_path):
    import numpy as np

    gen = current_generation(workspace.index_dir)
    np.save(gen / "sentences.npy", np.array([{"__reduce__": "os.system"}], dtype=object), allow_pickle=True)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["files"]["sentences.npy"] = sha256_file(gen / "sentences.npy")
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match="float32"):
        load_index(workspace, embedder.name, embedder.dim)


def test_an_empty_corpus_builds_an_empty_index(tmp_path, embedder):
    from pipeline.notes import Corpus
    from pipeline.settings import Settings

    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    report = build_index(settings, embedder, corpus=Corpus([]))
    assert report.notes == 0
    index = load_index(settings, embedder.name, embedder.dim)
    assert index.notes == [] and len(index.sentence_vectors) == 0
