"""Index plumbing with the fake embedder: fast, and independent of the model."""
import shutil

import numpy as np
import pytest

from conftest import corpus_copy
from fakes import FakeEmbedder
from pipeline.index import IndexCorrupt, build_index, load_index


@pytest.fixture
def fake_workspace(tmp_path):
    settings = corpus_copy(tmp_path)
    build_index(settings, FakeEmbedder())
    return settings


def test_add_edit_and_delete_touch_only_those_notes(fake_workspace):
    fake, s = FakeEmbedder(), fake_workspace
    shutil.copy(s.corpus_dir / "dpo-implicit-reward.md", s.corpus_dir / "dpo-copy.md")
    text = (s.corpus_dir / "dpo-copy.md").read_text(encoding="utf-8").replace("id: dpo-implicit-reward", "id: dpo-copy")
    (s.corpus_dir / "dpo-copy.md").write_text(text, encoding="utf-8")
    edited = s.corpus_dir / "dapo-clip-higher.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("summary: >-", "summary: >-\n  Edited.", 1), encoding="utf-8")
    (s.corpus_dir / "who-is-harry-potter.md").unlink()
    for other in s.corpus_dir.glob("*.md"):  # drop links to the deleted note so the corpus stays valid
        other.write_text(other.read_text(encoding="utf-8").replace(", who-is-harry-potter", "").replace("who-is-harry-potter, ", ""), encoding="utf-8")
    before = load_index(s, fake.name, fake.dim)
    report = build_index(s, fake)
    assert (report.added, report.removed) == (1, 1) and report.updated >= 1 and report.notes == 64
    after = load_index(s, fake.name, fake.dim)
    row_before, row_after = before.row("rlhf-truth-indifference"), after.row("rlhf-truth-indifference")
    assert np.array_equal(before.note_matrix()[row_before], after.note_matrix()[row_after])  # untouched: reused, not re-embedded


def test_an_index_from_another_embedder_is_refused(fake_workspace):
    with pytest.raises(IndexCorrupt, match="fake-hashed-words"):
        load_index(fake_workspace, "all-MiniLM-L6-v2@onnx-int8/r2", 384)


def test_a_rebuild_of_an_unchanged_corpus_embeds_nothing(fake_workspace):
    report = build_index(fake_workspace, FakeEmbedder())
    assert report.unchanged == report.notes == 64 and report.added == report.updated == 0
