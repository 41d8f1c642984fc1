"""The note format and `inquire check`: the shipped corpus passes, and each kind of bad note is named."""
import json
from pathlib import Path

import pytest

from conftest import CORPUS, SEED_IDS, cli_json, note_text, run_cli
from pipeline.notes import load_corpus


def test_shipped_corpus_passes_check(capsys):
    code, payload, err = cli_json(capsys, "check", "--corpus", str(CORPUS))
    assert code == 0, err
    assert payload["notes"] >= 60 and payload["problems"] == []


def test_related_links_form_one_connected_graph():
    notes = load_corpus(CORPUS).notes
    neighbours = {n.id: set(n.related) for n in notes}
    for n in notes:
        for r in n.related:
            neighbours[r].add(n.id)
    seen, stack = set(), [notes[0].id]
    while stack:
        nid = stack.pop()
        if nid not in seen:
            seen.add(nid)
            stack.extend(neighbours[nid] - seen)
    assert seen == set(neighbours)


SEED_FACTS = {
    "poisoning-survives-alignment": ["0.1%", "denial-of-service", "context", "belief", "jailbreak", "0.001%", "sleeper"],
    "sycophancy-by-design": ["load-bearing", "user", "predictable", "rlhf"],
    "rlhf-truth-indifference": ["21%", "85%", "20.9%", "84.5%", "unknown", "probe", "deceptive", "unverified"],
    "binary-reward-calibration": ["binary", "confident", "brier", "calibration", "accuracy", "guess"],
    "outputs-as-actions": ["3-4x", "entropy", "on-policy", "action-perception", "future inputs", "pretrain"],
    "hard-rlvr-samples": ["shortcut", "contaminat", "group-relative", "interpretation", "repetition", "non-monoton"],
}


@pytest.mark.parametrize("note_id", SEED_IDS)
def test_seed_notes_carry_the_seed_facts(note_id):
    text = (CORPUS / f"{note_id}.md").read_text(encoding="utf-8").lower()
    missing = [fact for fact in SEED_FACTS[note_id] if fact.lower() not in text]
    assert not missing, f"{note_id} lacks {missing}"


def test_dev_questions_cover_every_note():
    rows = [json.loads(l) for l in Path(__file__).parent.parent.joinpath("evaluation", "data", "dev_questions.jsonl").read_text().splitlines() if l.strip()]
    ids = {n.id for n in load_corpus(CORPUS).notes}
    assert {i for r in rows for i in r["ids"]} == ids


GOOD = note_text()
CASES = [
    # (file name, content, field named, words expected in the message)
    ("new-note.md", GOOD.replace("id: new-note\ntitle", "id: [unclosed\ntitle"), "front matter", "unparsable YAML"),
    ("new-note.md", GOOD.replace("title: Does a freshly added note about quokka grooming become answerable?\n", ""), "title", "missing"),
    ("new-note.md", GOOD.replace("summary: A test note", "summary: ''\nx: A test note"), "summary", "missing or empty"),
    ("other-name.md", GOOD, "id", "differs from the file name"),
    ("new-note.md", GOOD.replace("answerable?", "answerable."), "title", "ending in '?'"),
    ("new-note.md", note_text(body="Too short a body."), "body", "words"),
    ("new-note.md", note_text(body="word " * 450), "body", "450 words"),
    ("new-note.md", GOOD.replace("[sycophancy-by-design]", "[no-such-note]"), "related", "unknown note id 'no-such-note'"),
    ("new-note.md", GOOD.replace('  - title: "A Made-up Study of Quokkas"\n', "  - url2: x\n"), "sources", "no 'title'"),
    ("new-note.md", GOOD.replace("    year: 2024\n", ""), "sources", "no 'year'"),
    ("new-note.md", GOOD.replace("id: new-note", "id: New Note"), "id", "lowercase slug"),
]


@pytest.mark.parametrize("name,content,field,message", CASES)
def test_check_names_each_problem(tmp_path, capsys, name, content, field, message):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sycophancy-by-design.md").write_text((CORPUS / "sycophancy-by-design.md").read_text())
    (corpus / "sycophancy-by-design.md").write_text(
        (CORPUS / "sycophancy-by-design.md").read_text().replace("related: [", "related: [").split("related:")[0]
        + "related: []\n---" + (CORPUS / "sycophancy-by-design.md").read_text().split("---", 2)[2])
    (corpus / name).write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "--corpus", str(corpus))
    assert code == 1
    lines = [l for l in err.splitlines() if name in l]
    assert any(f": {field}: " in l and message in l for l in lines), err


def test_a_second_note_claiming_an_existing_id_is_reported(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "new-note.md").write_text(note_text(related="[]"))
    code, _, err = run_cli(capsys, "check", "--corpus", str(corpus))
    assert code == 0, err
    (corpus / "new-note-3.md").write_text(note_text(related="[]"))
    code, _, err = run_cli(capsys, "check", "--corpus", str(corpus))
    assert code == 1 and "new-note-3.md:2: id: 'new-note' differs from the file name stem" in err


def test_non_utf8_and_oversized_files_are_refused(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "latin.md").write_bytes(note_text("latin", related="[]").encode("utf-8").replace(b"quokka", "quokk\u00e4".encode("latin-1"), 1))
    (corpus / "huge.md").write_text(note_text("huge", related="[]") + "x" * 1_100_000)
    code, _, err = run_cli(capsys, "check", "--corpus", str(corpus))
    assert code == 1
    assert "latin.md" in err and "not UTF-8" in err
    assert "huge.md" in err and "1,000,000 bytes" in err


def test_notes_json_lists_every_field(capsys):
    code, payload, _ = cli_json(capsys, "notes", "--corpus", str(CORPUS))
    assert code == 0
    first = payload["notes"][0]
    assert set(first) == {"id", "title", "summary", "tags", "related", "sources"}
    assert len(payload["notes"]) == len(list(CORPUS.glob("*.md")))
