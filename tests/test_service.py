"""The workbench behind the page loads its engine in the background and reports a failed load on first use."""

import pytest

from pipeline.service import Workbench
from pipeline.settings import Settings


def test_a_background_load_answers_once_ready(workspace):
    bench = Workbench(workspace, background=True)
    answer = bench.ask("Does RLHF hurt calibration?")
    assert not answer["abstained"] and answer["sentences"]


def test_a_failed_background_load_surfaces_on_first_use(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    bench = Workbench(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"), background=True)
    with pytest.raises(ValueError, match="broken.md"):
        bench.ask("Does RLHF hurt calibration?")
    with pytest.raises(ValueError, match="broken.md"):  # and again: the error is kept, not swallowed
        bench.search_notes("RLHF")
