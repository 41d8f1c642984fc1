"""Real filesystem faults during a build: a read-only index folder and a full disk.

Run as root (as CI is), permission bits do not stop writes, so the folder is made immutable with
`chattr +i`; the full disk is a small tmpfs mounted over the index folder. Where neither is
possible (not root, no chattr/mount), the tests say so and skip.
"""
import os
import shutil
import subprocess
from contextlib import contextmanager

import pytest

from conftest import run_cli

QUESTION = "What does DAPO change in GRPO?"


def _corpus_bytes(settings) -> dict:
    return {p.name: p.read_bytes() for p in sorted(settings.corpus_dir.iterdir())}


def _edit_a_note(settings) -> None:
    note = settings.corpus_dir / "dapo-clip-higher.md"
    note.write_text(note.read_text().replace("summary: >-", "summary: >-\n  Edited so the index is out of date.", 1))


def _paths(settings) -> list[str]:
    return ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]


@contextmanager
def read_only(folder):
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root without a working chattr: cannot make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_index_folder_gives_a_clear_error_and_the_old_index_serves(workspace, capsys):
    _edit_a_note(workspace)
    corpus_before = _corpus_bytes(workspace)
    current_before = (workspace.index_dir / "CURRENT").read_text()
    with read_only(workspace.index_dir):
        code, _, err = run_cli(capsys, "index", *_paths(workspace))
        assert code == 1
        assert str(workspace.index_dir) in err and "previous index still serves" in err and "Traceback" not in err
        code, out, err = run_cli(capsys, "ask", QUESTION, "--json", *_paths(workspace))
        assert code == 0, err
        assert "could not update the index" in err
    assert (workspace.index_dir / "CURRENT").read_text() == current_before
    assert _corpus_bytes(workspace) == corpus_before
    code, out, _ = run_cli(capsys, "index", "--json", *_paths(workspace))
    assert code == 0 and '"updated": 1' in out


@pytest.fixture
def small_disk(workspace):
    """The workspace's index folder on a 3 MB tmpfs: room for one generation (1.8 MB), not two."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    shutil.rmtree(workspace.index_dir)
    workspace.index_dir.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(workspace.index_dir)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield workspace
    finally:
        subprocess.run(["umount", str(workspace.index_dir)], check=True)


def test_a_full_disk_mid_build_gives_a_clear_error_and_the_old_index_serves(small_disk, capsys):
    workspace = small_disk
    code, _, err = run_cli(capsys, "index", *_paths(workspace))
    assert code == 0, err
    current_before = (workspace.index_dir / "CURRENT").read_text()
    _edit_a_note(workspace)
    corpus_before = _corpus_bytes(workspace)
    code, _, err = run_cli(capsys, "index", *_paths(workspace))
    assert code == 1 and "No space left on device" in err and "previous index still serves" in err and "Traceback" not in err
    assert not list(workspace.index_dir.glob(".building-*")), "a failed build must not leave its partial generation behind"
    assert (workspace.index_dir / "CURRENT").read_text() == current_before
    code, out, err = run_cli(capsys, "ask", QUESTION, "--json", *_paths(workspace))
    assert code == 0 and '"sentences"' in out, err
    assert _corpus_bytes(workspace) == corpus_before
