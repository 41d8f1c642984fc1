"""Index, hybrid retrieval and the answer chain, end to end with the real model and FAISS index."""
import json
from pathlib import Path

import pytest

from conftest import SEED_IDS, SEED_QUESTION, cli_json, note_text, run_cli
from evaluation.evaluate import evaluate_search, load_questions

DATA = Path(__file__).parent.parent / "evaluation" / "data"
OFF_TOPIC = [l.strip() for l in (DATA / "offtopic_questions.txt").read_text().splitlines() if l.strip()]
ON_TOPIC = [
    "Why do chatbots agree with whatever I say?",
    "Does RLHF hurt calibration?",
    "Can fine-tuning remove safety guardrails?",
    "Is reinforcement learning with verifiable rewards teaching new reasoning?",
    "What do probes reveal about what a model believes is true?",
    "Can backdoors survive safety training?",
]


def test_seed_question_cites_at_least_four_seed_notes(engine):
    answer = engine.ask(SEED_QUESTION).to_json()
    cited = {c for s in answer["sentences"] for c in s["citations"]}
    assert not answer["abstained"]
    assert len(cited & set(SEED_IDS)) >= 4, cited
    assert answer["sentences"] and all(s["citations"] for s in answer["sentences"])
    assert len(answer["next_lines"]) >= 3
    assert not set(answer["next_lines"]) & {s["title"] for s in answer["sources"]}
    assert answer["reading"].startswith("This reads the question as")


def test_grounding_scores_a_copy_and_leaves_the_composers_draft_as_it_was(engine):
    from pipeline.chain import Question

    composition = engine._compose(engine._retrieve(Question(SEED_QUESTION, engine.settings.k)))
    answer = engine._ground(composition)
    assert [s.text for s in answer.draft.sentences] == [s.text for s in composition.draft.sentences]
    assert all(s.support is None and s.supported is None and s.decided_by == "" for s in composition.draft.sentences)
    assert all(s.support is not None and s.decided_by for s in answer.draft.sentences)


def test_every_answer_sentence_is_quoted_from_the_note_it_cites(engine):
    answer = engine.ask("Does RLHF make models less honest?")
    for s in answer.draft.sentences:
        note = engine.index.note(s.citations[0])
        assert s.text in note.sentences or s.text in note.heads[1:]  # a body or a summary sentence


def test_direct_answer_comes_first_and_the_answer_stays_on_the_question(engine):
    answer = engine.ask("How does RLHF change the rate of unverified claims a model makes?").to_json()
    first = answer["sentences"][0]
    assert first["citations"] == ["rlhf-truth-indifference"]
    assert "21%" in first["text"] and "85%" in first["text"]
    # no collage: every sentence comes from a note whose best passage is close to the lead note's
    assert len(answer["sources"]) <= 3 and len(answer["sentences"]) < 9, answer["sentences"]
    assert not answer["not_covered"]


@pytest.mark.parametrize("question", [
    "How does rotary position embedding encode token positions?",
    "What are good default hyperparameters for the Adam optimizer?",
    "How does FlashAttention reduce GPU memory traffic during attention?",
])
def test_neighbouring_field_questions_are_declined(engine, question):
    answer = engine.ask(question).to_json()
    assert answer["abstained"] and answer["sentences"] == [], answer["answer"]
    assert "does not cover" in answer["answer"] and "none of the notes covers" in answer["reading"]


def test_partly_covered_question_answers_the_covered_part_and_names_the_gap(engine):
    answer = engine.ask("Does 4-bit quantization undo safety training?").to_json()
    assert not answer["abstained"]
    assert answer["not_covered"] == ["4-bit quantization"]
    assert "do not cover 4-bit quantization" in answer["reading"]
    assert "Not covered by the notes: 4-bit quantization." in answer["answer"]
    cited = {c for s in answer["sentences"] for c in s["citations"]}
    assert cited & {"finetuning-compromises-safety", "lora-undoes-safety", "shadow-alignment", "shallow-safety-alignment"}


def test_answer_json_shape(capsys, shipped):
    code, payload, err = cli_json(capsys, "ask", SEED_QUESTION, "--corpus", str(shipped.corpus_dir), "--index", str(shipped.index_dir))
    assert code == 0, err
    assert {"question", "abstained", "answer", "sentences", "sources", "next_lines", "grounding", "timings_ms"} <= set(payload)
    assert set(payload["grounding"]) >= {"supported_fraction", "citation_recall", "citation_precision"}
    assert set(payload["timings_ms"]) >= {"retrieve", "compose", "ground", "total"}
    assert all({"text", "citations", "support"} <= set(s) for s in payload["sentences"])
    assert all(set(s) >= {"id", "title", "summary"} for s in payload["sources"])
    n = len(payload["sources"])
    assert f"Sources: {n} note{'s' if n != 1 else ''}\n" in payload["answer"]
    assert {"brief", "evidence", "headline", "closest", "paragraphs"} <= set(payload)
    assert payload["brief"] == list(range(len(payload["brief"]))) and 1 <= len(payload["brief"]) <= 3
    shown = [i for group in payload["evidence"] for i in group["sentences"]]
    assert payload["brief"] + shown == list(range(len(payload["sentences"])))  # every sentence once: brief, then evidence
    assert all(g["title"] == next(s["title"] for s in payload["sources"] if s["id"] == g["id"]) for g in payload["evidence"])
    assert "Next inquiring lines" in payload["answer"]


def test_dev_question_recall_at_5_for_hybrid(engine):
    metrics = evaluate_search(engine.search, load_questions(DATA / "dev_questions.jsonl"))
    assert metrics["hybrid"]["recall@5"] >= 0.95, metrics
    assert metrics["hybrid"]["mrr"] >= metrics["dense"]["mrr"], metrics


@pytest.mark.parametrize("question", OFF_TOPIC[:12])
def test_off_topic_questions_are_declined(engine, question):
    answer = engine.ask(question).to_json()
    assert answer["abstained"] and answer["sentences"] == [] and answer["sources"] == []
    assert "does not cover" in answer["answer"]
    assert len(answer["next_lines"]) >= 3


@pytest.mark.parametrize("question", ON_TOPIC)
def test_on_topic_questions_are_answered(engine, question):
    answer = engine.ask(question).to_json()
    assert not answer["abstained"] and answer["sentences"]


def test_search_json_contract(capsys, shipped):
    code, payload, _ = cli_json(capsys, "search", "sycophancy and human preference data", "--k", "3",
                                "--corpus", str(shipped.corpus_dir), "--index", str(shipped.index_dir))
    assert code == 0 and payload["query"] == "sycophancy and human preference data"
    assert len(payload["results"]) == 3 and set(payload["results"][0]) >= {"id", "title", "score"}
    assert "sycophancy-by-design" in [r["id"] for r in payload["results"]]


def test_langchain_retriever_returns_documents(engine):
    from pipeline.retrieve import NoteRetriever

    docs = NoteRetriever(search=engine.search, k=3).invoke("backdoors that persist through safety training")
    assert len(docs) == 3 and docs[0].metadata["id"]
    assert any(d.metadata["id"] in {"sleeper-agents-persist", "poisoning-survives-alignment"} for d in docs)


def test_adding_a_note_embeds_only_that_note_and_makes_it_answerable(tmp_path, capsys, workspace):
    path = tmp_path / "quokka-grooming.md"
    path.write_text(note_text("quokka-grooming"))
    args = ["--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir)]
    code, report, err = cli_json(capsys, "add", str(path), *args)
    assert code == 0, err
    assert report == {**report, "added": 1, "updated": 0, "removed": 0, "unchanged": report["notes"] - 1}
    code, payload, _ = cli_json(capsys, "search", "how often do quokkas groom each other", *args)
    assert payload["results"][0]["id"] == "quokka-grooming"
    code, report, _ = cli_json(capsys, "index", *args)
    assert report["added"] == report["updated"] == report["removed"] == 0


def test_editing_and_deleting_notes_updates_incrementally(capsys, workspace):
    args = ["--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir)]
    target = workspace.corpus_dir / "llm-self-preference.md"
    target.write_text(target.read_text().replace("summary: >-", "summary: >-\n  Edited.", 1))
    (workspace.corpus_dir / "who-is-harry-potter.md").unlink()
    for note in workspace.corpus_dir.glob("*.md"):  # drop links to the deleted note so the corpus stays valid
        note.write_text(note.read_text().replace("who-is-harry-potter, ", "").replace(", who-is-harry-potter", "").replace("[who-is-harry-potter]", "[]"))
    code, report, err = cli_json(capsys, "index", *args)
    assert code == 0, err
    assert report["removed"] == 1 and report["updated"] >= 1 and report["added"] == 0
    assert report["updated"] < 10


def test_malformed_note_is_refused_and_nothing_changes(tmp_path, capsys, workspace):
    before = {p.name: p.read_bytes() for p in workspace.corpus_dir.iterdir()}
    index_before = (workspace.index_dir / "CURRENT").read_text()
    bad = tmp_path / "bad-note.md"
    bad.write_text(note_text("bad-note").replace("answerable?", "answerable"))
    code, out, err = run_cli(capsys, "add", str(bad), "--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir))
    assert code == 1 and "title" in err and "'?'" in err
    assert {p.name: p.read_bytes() for p in workspace.corpus_dir.iterdir()} == before
    assert (workspace.index_dir / "CURRENT").read_text() == index_before


def test_adding_an_existing_id_needs_replace(tmp_path, capsys, workspace):
    existing = workspace.corpus_dir / "dapo-clip-higher.md"
    copy = tmp_path / "dapo-clip-higher.md"
    copy.write_text(existing.read_text())
    code, _, err = run_cli(capsys, "add", str(copy), "--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir))
    assert code == 1 and "already exists" in err and "--replace" in err


def test_model_mismatch_forces_full_rebuild(capsys, workspace):
    from pipeline.index import current_generation

    manifest_path = current_generation(workspace.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"] = "some-other-model"
    manifest_path.write_text(json.dumps(manifest))
    code, report, _ = cli_json(capsys, "index", "--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir))
    assert code == 0 and report["full"] and report["added"] == report["notes"]
    assert "other-model" in report["reason"]


def test_a_note_that_repeats_a_sentence_is_quoted_once(tmp_path, capsys, workspace):
    body = " ".join(["Wombat burrow surveys count burrows near rivers every spring season."] * 12)
    path = tmp_path / "wombat-burrows.md"
    path.write_text(note_text("wombat-burrows", title="What do wombat burrow surveys count?", body=body))
    args = ["--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir)]
    assert cli_json(capsys, "add", str(path), *args)[0] == 0
    code, answer, err = cli_json(capsys, "ask", "What do wombat burrow surveys count near rivers?", "--judge", "features", *args)
    assert code == 0, err
    texts = [s["text"] for s in answer["sentences"]]
    assert texts and texts.count(texts[0]) == 1 and answer["sentences"][0]["citations"] == ["wombat-burrows"]


def test_a_number_question_gets_the_number_in_its_brief(engine):
    answer = engine.ask("How much more often do chatbots make unverified claims once they are trained with "
                        "reinforcement learning from human feedback?").to_json()
    brief = [answer["sentences"][i] for i in answer["brief"]]
    assert 1 <= len(brief) <= 3 and sum(len(s["text"].split()) for s in brief) <= 80
    assert brief[0]["citations"] == ["rlhf-truth-indifference"]
    assert "21%" in brief[0]["text"] and "85%" in brief[0]["text"]  # the asked-for number, first
    for group in answer["evidence"]:  # the evidence, each sentence under the note it is cited to
        assert all(answer["sentences"][i]["citations"] == [group["id"]] for i in group["sentences"])
    assert not answer["closest"] and not answer["headline"]


def test_an_acronym_a_note_spells_out_is_no_gap(engine):
    # The constitutional-ai note writes "Constitutional AI", never "CAI".
    answer = engine.ask("What does Anthropic's CAI method replace human harm labels with?").to_json()
    assert not answer["abstained"] and not answer["not_covered"] and not answer["closest"]
    assert answer["sentences"][0]["citations"] == ["constitutional-ai"]


@pytest.mark.parametrize("question, missing", [
    ("What is the IPO loss and how does it fix DPO's overfitting?", "IPO"),
    # Missed (best sentence 0.193 above a floor of 0.188) until the ranking was refitted on 467 tune questions.
    ("How does rejection-sampling fine-tuning work in Llama 2 post-training?", None),
])
def test_an_uncovered_subject_in_the_field_is_said_first_and_only_the_closest_note_follows(engine, question, missing):
    answer = engine.ask(question).to_json()
    assert not answer["abstained"] and answer["closest"]
    assert answer["headline"].startswith("The notes do not cover " + missing if missing else "The notes do not answer")
    assert "the closest they come is" in answer["headline"]
    assert answer["answer"].split("\n\n")[1] == answer["headline"]  # the first line after the reading
    assert 1 <= len(answer["sentences"]) <= 3 and not answer["evidence"]
    assert len({c for s in answer["sentences"] for c in s["citations"]}) == 1


def test_a_coined_term_only_one_note_uses_is_evidence_for_it(capsys, workspace):
    note = workspace.corpus_dir / "lora-undoes-safety.md"
    text = note.read_text()
    assert "The whole LoRA attack needed a single GPU" in text
    note.write_text(text.replace("The whole LoRA attack needed a single GPU",
                                 "The quokka-pangolin attack, as the authors nicknamed it, needed a single GPU"))
    code, answer, err = cli_json(capsys, "ask", "What did the authors nickname the quokka-pangolin attack?", "--judge", "features",
                                 "--corpus", str(workspace.corpus_dir), "--index", str(workspace.index_dir))
    assert code == 0, err
    assert not answer["abstained"] and answer["sentences"][0]["citations"] == ["lora-undoes-safety"]
    assert "quokka-pangolin" in answer["sentences"][0]["text"]


def test_the_sentence_after_the_lead_finding_comes_with_it(engine):
    # The note warns that such benchmarks "may overestimate robustness" and gives the reason in the next
    # sentence; quoted alone, the warning does not answer "can it be trusted?".
    answer = engine.ask("Can unlearning results on facts taught in a fine-tuning stage be trusted as evidence of robustness?").to_json()
    text = " ".join(s["text"] for s in answer["sentences"])
    assert answer["sentences"][0]["citations"] == ["unlearning-relearning"]
    assert "overestimate robustness" in text and "harder to remove" in text


def test_each_part_of_a_compound_question_gets_its_answer(engine):
    answer = engine.ask("Which models did Qi and colleagues red-team through custom fine-tuning, and how did they "
                        "measure how harmful the outputs were?").to_json()
    lead = [s["text"] for s in answer["sentences"] if s["citations"] == ["finetuning-compromises-safety"]]
    assert any("GPT-3.5 Turbo" in t and "Llama-2-7b-Chat" in t for t in lead)
    assert any("11 harm categories" in t for t in lead)  # the second ask: how harm was measured


def test_a_hyphenated_name_finds_the_note_that_writes_it_apart(engine):
    # The question writes "sleeper-agent"; the Sleeper Agents note writes the name as two words, while a note
    # that only mentions the paper in passing writes "sleeper-agent".
    answer = engine.ask("In the sleeper-agent work, did safety training remove the backdoors?").to_json()
    assert answer["sentences"][0]["citations"] == ["sleeper-agents-persist"]
