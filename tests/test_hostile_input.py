"""Hostile or broken input: every bad note is refused with a reason, and nothing on disk changes."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import note_text, run_cli
from pipeline.chain import clean_question
from pipeline.errors import UserError
from pipeline.service import score_text
from pipeline.cited import AnswerTextError, parse_cited_answer
from pipeline.notes import NoteError, parse_note, read_note_text

FIELDS = ["id", "title", "summary", "sources", "tags", "related"]
junk = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30), st.lists(st.text(max_size=5), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2), st.booleans())


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.text(max_size=3000))
def test_arbitrary_text_never_crashes_the_parser(raw):
    note, problems = parse_note(raw, "fuzz.md", expected_id="fuzz")
    assert (note is None) == bool(problems)
    assert all(p.path == "fuzz.md" and p.field and p.message for p in problems)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(FIELDS), value=junk)
def test_wrong_types_in_any_field_are_named(field, value):
    import yaml

    good = note_text("fuzz-note", related="[]")
    head, body = good.split("---\n", 2)[1:]
    meta = yaml.safe_load(head)
    meta[field] = value
    raw = "---\n" + yaml.safe_dump(meta) + "---\n" + body
    note, problems = parse_note(raw, "fuzz-note.md", expected_id="fuzz-note")
    if note is None:
        assert problems and all(p.field for p in problems)
        assert any(p.field in (field, "front matter") for p in problems), problems
    else:  # the junk happened to be valid for that field
        assert getattr(note, field) is not None


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=2000))
def test_binary_files_are_refused_with_a_reason(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("bin")
    path = folder / "binary-note.md"
    path.write_bytes(b"\xff\xfe" + data)
    text, problems = read_note_text(path)  # what `inquire add` checks first, before any parsing
    assert text is None and problems
    assert "binary-note.md" in str(NoteError(problems))


BAD_IDS = ["../escape", "a/b", "has space", "UPPER", "caf\u00e9", "\u0430bc", "dots.in.id", "-lead", "trail-", "double--hyphen", ""]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_bad_ids_are_refused_and_nothing_changes(tmp_path, capsys, workspace, bad_id):
    before_corpus, before_index = snapshot(workspace.corpus_dir), snapshot(workspace.index_dir)
    path = tmp_path / "note.md"
    path.write_text(note_text().replace("id: new-note", f"id: '{bad_id}'"), encoding="utf-8")
    code, _, err = run_cli(capsys, "add", str(path), "--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir))
    assert code == 1 and "id" in err
    assert snapshot(workspace.corpus_dir) == before_corpus and snapshot(workspace.index_dir) == before_index


def test_symlink_pointing_outside_the_corpus_is_refused(tmp_path, capsys, workspace):
    outside = tmp_path / "outside.md"
    outside.write_text(note_text("outside", related="[]"))
    os.symlink(outside, workspace.corpus_dir / "outside.md")
    code, _, err = run_cli(capsys, "check", "--corpus", str(workspace.corpus_dir))
    assert code == 1 and "outside.md" in err and "symlink" in err


def test_enormous_fields_are_refused(tmp_path, capsys, workspace):
    path = tmp_path / "new-note.md"
    path.write_text(note_text(summary="Huge. " * 200_000))
    code, _, err = run_cli(capsys, "add", str(path), "--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir))
    assert code == 1 and "bytes" in err


@pytest.mark.parametrize("question,message", [("", "empty"), ("   \n\t ", "empty"), ("\x00\x01\x02", "empty"), ("x" * 100_000, "characters")])
def test_bad_questions_get_a_clear_error(question, message):
    with pytest.raises(UserError, match=message):
        clean_question(question)


@pytest.mark.parametrize("question", [
    "What does RLHF do to honesty?\u202e\u200f reversed text \u05e9\u05dc\u05d5\u05dd",
    "<script>alert(1)</script> does RLHF cause sycophancy?",
    "Does\x07 RLHF\x1b[31m hurt calibration?",
])
def test_odd_but_real_questions_are_answered(engine, question):
    answer = engine.ask(question).to_json()
    assert answer["sources"] or answer["abstained"]
    assert "\x1b" not in answer["answer"] and "\x07" not in answer["answer"]


@pytest.mark.parametrize("text", ["", "   ", "no citations here at all", "[nonexistent-id] [99]", "\u202e[rlhf-truth-indifference] <b>x</b>."])
def test_odd_pasted_answers_get_a_report(engine, text):
    if not text.strip():
        report = score_text(engine, text)
        assert report["sentences"] == []
        return
    report = score_text(engine, text)
    assert set(report) >= {"sentences", "unknown_citations"}


def test_oversized_pasted_answer_is_refused():
    with pytest.raises(AnswerTextError, match="characters"):
        parse_cited_answer("word " * 100_000)
