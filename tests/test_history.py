"""No note lost: replace, delete and restore through Inquire keep every old text, beside the corpus and never
read as notes; and a note's faults are reported all at once."""
import hashlib
import json

import pytest

from conftest import cli_json, note_text, run_cli
from pipeline.notes import NoteError, check_note_text
from pipeline.service import note_markdown

OLD_WORD, NEW_WORD = "quokka", "numbat"


def corpus_args(settings):
    return ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]


def search_ids(capsys, settings, query):
    code, found, err = cli_json(capsys, "search", query, *corpus_args(settings))
    assert code == 0, err
    return [r["id"] for r in found["results"]]


def indexed_body(settings, embedder, note_id):
    from pipeline.index import load_index

    return " ".join(load_index(settings, embedder.name, embedder.dim).note(note_id).sentences)


def test_a_replaced_note_is_kept_and_restore_brings_it_back_with_the_index(workspace, tmp_path, capsys, embedder):
    first, second = tmp_path / "kept-note.md", tmp_path / "v2" / "kept-note.md"
    second.parent.mkdir()
    first.write_text(note_text("kept-note"))
    second.write_text(note_text("kept-note").replace("Quokka", "Numbat").replace("quokka", "numbat"))
    assert cli_json(capsys, "add", str(first), *corpus_args(workspace))[0] == 0
    code, report, err = cli_json(capsys, "add", str(second), "--replace", *corpus_args(workspace))
    assert code == 0 and report["version"] == 1, err
    assert NEW_WORD in indexed_body(workspace, embedder, "kept-note").lower()

    code, history, _ = cli_json(capsys, "history", "kept-note", *corpus_args(workspace))
    assert code == 0 and history["id"] == "kept-note" and len(history["versions"]) == 1
    old = history["versions"][0]
    assert {"saved", "by", "sha256", "text"} <= set(old) and old["by"] is None  # no accounts on the command line
    assert old["text"] == first.read_text() and old["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()

    code, restored, err = cli_json(capsys, "restore", "kept-note", "1", *corpus_args(workspace))
    assert code == 0 and restored["updated"] == 1, err
    assert (workspace.corpus_dir / "kept-note.md").read_text() == first.read_text()
    body = indexed_body(workspace, embedder, "kept-note").lower()
    assert OLD_WORD in body and NEW_WORD not in body
    assert "kept-note" in search_ids(capsys, workspace, "quokka grooming habits on Rottnest")[:3]
    history = cli_json(capsys, "history", "kept-note", *corpus_args(workspace))[1]
    assert [v["reason"] for v in history["versions"]] == ["replace", "restore"]  # the restore kept what it replaced
    assert NEW_WORD in history["versions"][1]["text"].lower()
    audit = [json.loads(line) for line in (workspace.corpus_dir / ".inquire" / "audit.jsonl").read_text().splitlines()]
    assert [a["action"] for a in audit] == ["add", "replace", "restore"] and all(a["id"] == "kept-note" for a in audit)


def unlinked_note(settings, capsys, tmp_path) -> str:
    """A note no other note links to (every shipped note is linked), so deleting it leaves a valid corpus."""
    path = tmp_path / "unlinked-note.md"
    path.write_text(note_text("unlinked-note"))
    assert cli_json(capsys, "add", str(path), *corpus_args(settings))[0] == 0
    return "unlinked-note"


def test_a_deleted_note_is_kept_and_can_be_restored(workspace, capsys, tmp_path):
    note_id = unlinked_note(workspace, capsys, tmp_path)
    before = (workspace.corpus_dir / f"{note_id}.md").read_bytes()
    code, report, err = cli_json(capsys, "delete", note_id, *corpus_args(workspace))
    assert code == 0 and report["removed"] == 1, err
    assert not (workspace.corpus_dir / f"{note_id}.md").exists()
    assert cli_json(capsys, "restore", note_id, "1", *corpus_args(workspace))[0] == 0
    assert (workspace.corpus_dir / f"{note_id}.md").read_bytes() == before
    assert cli_json(capsys, "check", *corpus_args(workspace))[0] == 0


def test_deleting_a_note_others_link_to_is_refused_and_changes_nothing(workspace, capsys):
    before = (workspace.corpus_dir / "hard-rlvr-samples.md").read_bytes()
    code, _, err = run_cli(capsys, "delete", "hard-rlvr-samples", *corpus_args(workspace))
    assert code == 1 and "link to 'hard-rlvr-samples'" in err and "dapo-clip-higher" in err
    assert (workspace.corpus_dir / "hard-rlvr-samples.md").read_bytes() == before


def test_history_is_never_read_as_notes(workspace, capsys, tmp_path):
    note_id = unlinked_note(workspace, capsys, tmp_path)
    code, checked, _ = cli_json(capsys, "check", *corpus_args(workspace))
    notes = checked["notes"]
    assert cli_json(capsys, "delete", note_id, *corpus_args(workspace))[0] == 0
    assert cli_json(capsys, "restore", note_id, "1", *corpus_args(workspace))[0] == 0
    kept = list((workspace.corpus_dir / ".inquire" / "history").rglob("*.md"))
    assert kept  # valid notes' bytes sit in the history folder...
    code, checked, _ = cli_json(capsys, "check", *corpus_args(workspace))
    assert code == 0 and checked["notes"] == notes  # ...and are not counted, indexed or duplicated
    code, index, _ = cli_json(capsys, "index", *corpus_args(workspace))
    assert index["notes"] == notes


@pytest.mark.parametrize("args, expected", [
    (["restore", "no-such-note", "1"], "no history"),
    (["restore", "../etc", "1"], "not a note id"),
    (["delete", "no-such-note"], "there is no note"),
    (["delete", "../corpus"], "not a note id"),
])
def test_bad_history_requests_say_what_exists(workspace, capsys, args, expected):
    code, _, err = run_cli(capsys, *args, *corpus_args(workspace))
    assert code == 1 and expected in err


def test_a_missing_version_lists_the_versions_there_are(workspace, capsys, tmp_path):
    note_id = unlinked_note(workspace, capsys, tmp_path)
    assert cli_json(capsys, "delete", note_id, *corpus_args(workspace))[0] == 0
    code, _, err = run_cli(capsys, "restore", note_id, "7", *corpus_args(workspace))
    assert code == 1 and "versions 1" in err and "no version 7" in err
    assert not (workspace.corpus_dir / f"{note_id}.md").exists()


def test_one_submit_reports_every_fault_of_a_note(workspace):
    markdown, earlier = note_markdown("every-fault-note", "Not a question", "A summary.", "too short", "just a title",
                                      "quokka", "no-such-note, sycophancy-by-design")
    with pytest.raises(NoteError) as caught:
        check_note_text(markdown, "the form", workspace.corpus_dir, earlier=earlier)
    fields = {p.field for p in caught.value.problems}
    assert {"title", "body", "sources", "related"} <= fields  # the unknown related id with the rest, not after them
    assert any("no-such-note" in p.message for p in caught.value.problems)
