"""The page's service (PageService) loads its engine in the background and reports a failed load on first use."""

import pytest

from pipeline.service import PageService
from pipeline.settings import Settings


def test_a_background_load_answers_once_ready(workspace):
    service = PageService(workspace, background=True)
    answer = service.ask("Does RLHF hurt calibration?")
    assert not answer["abstained"] and answer["sentences"]


def test_a_failed_background_load_surfaces_on_first_use(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    service = PageService(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"), background=True)
    with pytest.raises(ValueError, match="broken.md"):
        service.ask("Does RLHF hurt calibration?")
    with pytest.raises(ValueError, match="broken.md"):  # and again: the error is kept, not swallowed
        service.search_notes("RLHF")


def test_the_page_service_answers_from_notes_edited_on_disk(workspace):
    service = PageService(workspace)
    question = "What did the zebra-finch replication find about reward hacking?"
    assert not any("zebra-finch" in s["text"] for s in service.ask(question)["sentences"])
    note = workspace.corpus_dir / "reward-model-ensembles.md"
    text = note.read_text(encoding="utf-8")
    added = ("A zebra-finch replication of reward hacking found that songbirds trained against a learned reward "
             "inflated the reward by 37% while their real song quality fell.")
    note.write_text(text.rstrip() + "\n\n" + added + "\n", encoding="utf-8")
    answer = service.ask(question)
    assert any("zebra-finch" in s["text"] for s in answer["sentences"])
    note.unlink()  # a deleted note leaves the answers too
    assert "reward-model-ensembles" not in {s["id"] for s in service.search_notes("reward model ensembles")}


def test_update_embeds_only_what_changed_and_full_rebuild_everything(workspace):
    service = PageService(workspace)
    note = workspace.corpus_dir / "reward-model-ensembles.md"
    note.write_text(note.read_text(encoding="utf-8") + "\nOne more sentence about ensembles for the test.\n", encoding="utf-8")
    update = service.rebuild(full=False)
    assert (update["updated"], update["added"]) == (1, 0) and update["unchanged"] == update["notes"] - 1
    full = service.rebuild(full=True)
    assert full["unchanged"] == 0 and full["notes"] == update["notes"]


def test_the_page_and_the_cli_share_one_add_with_replace(workspace):
    from conftest import note_text
    from pipeline.errors import UserError

    service = PageService(workspace)
    first = service.add_note(note_text("shared-door-note"))
    assert first["added"] == 1 and (workspace.corpus_dir / "shared-door-note.md").exists()
    with pytest.raises(UserError, match="already exists.*tick 'Replace' on the editor's desk"):  # a fix the page offers
        service.add_note(note_text("shared-door-note"))
    edited = note_text("shared-door-note").replace("quokka", "wombat")
    assert service.add_note(edited, replace=True)["updated"] == 1
    assert "wombat" in (workspace.corpus_dir / "shared-door-note.md").read_text(encoding="utf-8")
    assert "wombat" not in service.note_history("shared-door-note")["versions"][0]["text"]  # the old text, kept


def test_a_bug_is_not_dressed_up_as_a_user_error(monkeypatch, capsys):
    from pipeline import cli

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_check", broken)
    with pytest.raises(KeyError):
        cli.main(["check"])
