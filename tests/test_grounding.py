"""The grounding scorer on corpus notes: paraphrases pass, each 'must catch' kind fails."""
import pytest

from conftest import cli_json
from pipeline.service import score_text
from pipeline.cited import parse_cited_answer

T = "rlhf-truth-indifference"
P = "poisoning-survives-alignment"
O = "outputs-as-actions"

PASS = [
    ("verbatim quote", f"Before RLHF, the model made positive claims in 20.9% of these unknown-truth scenarios. [{T}]"),
    ("paraphrase", f"After RLHF the share of positive claims in unknown-truth scenarios climbed to 84.5%. [{T}]"),
    ("paraphrase", f"The denial-of-service backdoor kept working after post-training even with just 0.001% of pretraining data poisoned. [{P}]"),
    ("paraphrase", f"Output entropy was 3-4x lower on-policy than off-policy in post-trained models. [{O}]"),
    ("rounded", "During RL training, DeepSeek-R1-Zero's AIME 2024 pass@1 rose from about 16% to roughly 71%. [deepseek-r1-zero]"),
]
FAIL = [
    ("changed number", f"Before RLHF, the model made positive claims in 35.2% of these unknown-truth scenarios. [{T}]"),
    ("hedged changed number", f"After RLHF, the model made positive claims in well over 95% of these unknown-truth scenarios. [{T}]"),
    ("swapped roles", f"RLHF raised the rate of unverified positive claims from 84.5% to 20.9%. [{T}]"),
    ("direction reversed", f"After RLHF, the rate of such positive claims fell to 84.5%. [{T}]"),
    ("negation", f"The denial-of-service backdoor did not work after post-training when only 0.001% of the pretraining data was poisoned. [{P}]"),
    ("contradiction", f"The Machine Bullshit authors conclude that RLHF weakened the model's ability to recognise the truth. [{T}]"),
    ("contradiction", f"Before RLHF, the model made no positive claims in these unknown-truth scenarios. [{T}]"),
    ("invented detail", f"The denial-of-service backdoor still worked after post-training in a 70B model trained on The Pile in 2019. [{P}]"),
    ("wrong note", "Before RLHF, the model made positive claims in 20.9% of these unknown-truth scenarios. [sycophancy-by-design]"),
]


@pytest.mark.parametrize("kind,text", PASS)
def test_supported_sentences_pass(engine, kind, text):
    report = score_text(engine, text)
    s = report["sentences"][0]
    assert s["supported"], (kind, s)
    assert s["evidence"] and s["evidence"][0]["id"] in s["citations"]


@pytest.mark.parametrize("kind,text", FAIL)
def test_must_catch_kinds_fail(engine, kind, text):
    report = score_text(engine, text)
    s = report["sentences"][0]
    assert not s["supported"], (kind, s)
    assert s["unsupported"], (kind, s)


KNOWN_MISSES = [
    # an unlisted antonym ('destroyed' vs 'intact') with every other word in the evidence
    f"Belief probes showed that the model's internal representation of the truth was destroyed by RLHF. [{T}]",
    # two outcomes swapped between entities of one note (jailbreak was suppressed, denial-of-service persisted)
    f"Safety alignment with SFT and DPO removed the denial-of-service backdoor. [{P}]",
]


@pytest.mark.xfail(strict=True, reason="known limit of the feature scorer: contradictions without a number, negation, "
                   "listed antonym or order cue; the perturbation suite measures the contradiction kind at about 0.66")
@pytest.mark.parametrize("text", KNOWN_MISSES)
def test_known_limit_contradictions_without_surface_cues(engine, text):
    assert not score_text(engine, text)["sentences"][0]["supported"]


def test_changed_number_is_named(engine):
    s = score_text(engine, FAIL[0][1])["sentences"][0]
    assert any("35.2" in u for u in s["unsupported"])


def test_numbered_citations_resolve_through_sources_list():
    parsed = parse_cited_answer("RLHF raised claims [1]. Jailbreaks did not persist [2, 3].\n\nSources\n[1] rlhf-truth-indifference\n[2] poisoning-survives-alignment\n")
    assert [s.citations for s in parsed.sentences] == [["rlhf-truth-indifference"], ["poisoning-survives-alignment"]]
    assert parsed.unresolved == ["[3]"]


def test_unknown_ids_and_uncited_sentences_are_reported(engine):
    report = score_text(engine, f"A sentence with no citation at all. Another one cites a missing note [no-such-note]. {PASS[0][1]}")
    assert report["unknown_citations"] == ["[no-such-note]"]
    assert report["uncited_sentences"] == ["A sentence with no citation at all."]
    assert [s["supported"] for s in report["sentences"]] == [False, False, True]
    assert report["supported_fraction"] == pytest.approx(1 / 3, abs=1e-3)
    assert report["citation_recall"] == pytest.approx(1 / 3, abs=1e-3)


def test_citation_precision_counts_excess_citations(engine):
    text = f"Before RLHF, the model made positive claims in 20.9% of these unknown-truth scenarios. [{T}, dapo-clip-higher]"
    report = score_text(engine, text)
    assert report["citation_recall"] == 1.0
    assert report["citation_precision"] == 0.5


def test_score_cli_json_contract(tmp_path, capsys, shipped):
    answer = tmp_path / "answer.md"
    answer.write_text(f"{PASS[0][1]} {FAIL[0][1]}\n")
    code, payload, err = cli_json(capsys, "score", str(answer), "--corpus", str(shipped.corpus_dir), "--index", str(shipped.index_dir))
    assert code == 0, err
    assert set(payload) >= {"sentences", "supported_fraction", "citation_recall", "citation_precision", "unknown_citations"}
    assert set(payload["sentences"][0]) >= {"text", "citations", "support", "supported", "evidence", "unsupported"}
    assert [s["supported"] for s in payload["sentences"]] == [True, False]


def test_score_batch_prints_a_table(tmp_path, capsys, shipped):
    import json

    batch = tmp_path / "answers.jsonl"
    batch.write_text("\n".join(json.dumps({"id": i, "answer": t}) for i, (_, t) in enumerate(PASS[:2] + FAIL[:1])) + "\n")
    from conftest import run_cli

    code, out, err = run_cli(capsys, "score", "--batch", str(batch), "--corpus", str(shipped.corpus_dir), "--index", str(shipped.index_dir))
    assert code == 0, err
    assert "supported" in out.splitlines()[0] and len(out.strip().splitlines()) == 4


def test_answers_of_the_chain_are_scored_supported(engine):
    answer = engine.ask("Does RLHF make models indifferent to the truth?").to_json()
    assert answer["grounding"]["supported_fraction"] == 1.0
    assert all(s["support"] >= 0.9 for s in answer["sentences"])


def test_the_judge_reads_evidence_picked_with_full_precision_vectors():
    """int8 rounding reorders near-equal sentences (and differs between machines' exports); the judge's evidence
    is picked with the fp32 vectors whatever embedder the scorer runs on."""
    from pipeline.embed import EmbeddingCache, load_embedder
    from pipeline.ground import JUDGE_EVIDENCE, JudgeEvidence, judge_evidence
    from pipeline.notes import load_corpus
    from pipeline.settings import Settings

    int8, fp32 = EmbeddingCache(load_embedder(kind="onnx-int8")), EmbeddingCache(load_embedder(kind="onnx-fp32"))
    pick = JudgeEvidence(int8)
    differs = 0
    for note in load_corpus(Settings().corpus_dir).notes[:40]:
        texts = note.sentences
        if len(texts) <= JUDGE_EVIDENCE:
            continue
        claim = note.title
        by_fp32 = judge_evidence(fp32([claim])[0], texts, fp32(texts))
        assert pick(claim, texts) == by_fp32, note.id
        differs += judge_evidence(int8([claim])[0], texts, int8(texts)) != by_fp32
    assert differs >= 1  # int8 would have picked another top 3 for some notes: the check above can fail
