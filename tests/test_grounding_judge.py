"""The grounding judge inside the scorer: which stage decides in each mode, the combination, the report
fields, and (marked `judge`, run by `make test-judge`) the real local judge on real notes."""
import pytest

from pipeline.service import JudgeChoice, open_judge, score_text
from pipeline.ground import GATED_INPUTS, JUDGE_MODES, GroundingScorer, JudgeCombination, feature_logit, load_combination
from pipeline.judge import JudgeUnavailable, JudgeVerdict


class RecordingJudge:
    """Plumbing only: answers a fixed logit and records what it was asked (the real judge is tested below)."""

    name = "recording"

    def __init__(self, logit: float):
        self.logit, self.calls = logit, []

    def support(self, claim, evidence):
        self.calls.append((claim, evidence))
        return JudgeVerdict(1 / (1 + 2.718281828 ** -self.logit), self.logit, 100, 0.0)


@pytest.fixture
def scorer_with(engine):
    def make(judge, mode):
        return GroundingScorer(engine.embedder, engine.note_sentences, judge=judge, mode=mode)
    return make


PARAPHRASE = ("Adversarial training reliably removed the backdoors in the largest models.", ["sleeper-agents-persist"])
NUMBER_CLASH = ("Poisoning 3% of pretraining data was needed for the attacks to persist.", ["poisoning-survives-alignment"])


def test_auto_mode_leaves_certain_sentences_to_the_features_and_asks_the_judge_the_rest(scorer_with):
    judge = RecordingJudge(-4.0)
    paraphrase, clash = scorer_with(judge, "auto").score([PARAPHRASE, NUMBER_CLASH])
    assert [c for c, _ in judge.calls] == [PARAPHRASE[0]]
    assert paraphrase.decided_by == "judge" and not paraphrase.supported and paraphrase.judge_support < 0.1
    assert "the judge read the claim as not supported by this evidence" in paraphrase.unsupported
    assert clash.decided_by == "features" and not clash.supported and clash.judge_support is None
    # the judge reads the three cited-note sentences closest to the claim, and the report shows those
    assert len(judge.calls[0][1]) == 3 and [e["text"] for e in paraphrase.evidence] == judge.calls[0][1]


def test_llm_mode_judges_everything_but_quotes_and_features_mode_never_calls_the_judge(engine, scorer_with):
    quote = engine.index.note("sleeper-agents-persist").sentences[0]
    judge = RecordingJudge(4.0)
    scores = scorer_with(judge, "llm").score([PARAPHRASE, NUMBER_CLASH, (quote, ["sleeper-agents-persist"])])
    assert [s.decided_by for s in scores] == ["judge", "judge", "quote"] and len(judge.calls) == 2
    quiet = RecordingJudge(4.0)
    assert all(s.decided_by != "judge" for s in scorer_with(quiet, "features").score([PARAPHRASE, NUMBER_CLASH]))
    assert quiet.calls == []


def test_unknown_mode_is_refused_with_the_allowed_values(scorer_with):
    with pytest.raises(ValueError, match="auto, features, llm"):
        scorer_with(None, "sometimes")


def test_combination_weighs_its_named_inputs():
    c = JudgeCombination(("feature_logit", "judge_logit"), (1.0, 1.0), 0.0, 0.5, "test")
    assert c.probability({"feature_logit": 0.0, "judge_logit": 3.0}) > 0.9
    assert c.probability({"feature_logit": 0.0, "judge_logit": -3.0}) < 0.1
    assert c.probability({"feature_logit": feature_logit(0.99), "judge_logit": -1.0}) > c.probability(
        {"feature_logit": 0.0, "judge_logit": -1.0})
    with pytest.raises(ValueError, match="expected inputs among"):
        JudgeCombination.from_json({"inputs": ["mood"], "weights": [1.0], "bias": 0.0, "threshold": 0.5})


def test_shipped_combinations_are_fitted_on_dev_sets_only():
    combos = load_combination()
    assert combos is not None, "run `make train-grounding` with the judge installed"
    for c in (combos.with_probe, combos.logit_only):
        assert "claims-tune" in c.trained_on and "measure" not in c.trained_on and "blind" not in c.trained_on
        assert "test" not in c.trained_on and "wice-100" not in c.trained_on
    assert combos.with_probe.inputs[:3] == ("feature_logit", "judge_logit", "probe_logit")
    assert set(combos.with_probe.inputs[3:]) <= set(GATED_INPUTS)
    assert combos.logit_only.inputs == ("feature_logit", "judge_logit") and combos.logit_only.weights[1] > 0


def test_llm_mode_without_a_judge_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("INQUIRE_JUDGE_DIR", str(tmp_path))
    with pytest.raises(JudgeUnavailable, match="make install-judge"):
        open_judge(JudgeChoice("llm"))
    judge, note = open_judge(JudgeChoice("auto"))
    assert judge is None and note.startswith("features (the LLM judge is not available")


def test_score_report_says_which_stage_decided(engine):
    report = score_text(engine, "Adversarial training removed the backdoor in every model [sleeper-agents-persist].", "features")
    assert report["judge"] == "features" and report["sentences"][0]["decided_by"] == "features"
    assert report["sentences"][0]["judge_support"] is None and report["sentences"][0]["evidence"]


def test_modes_are_the_cli_choices(capsys, shipped):
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["score", "-", "--judge", "sometimes", "--corpus", str(shipped.corpus_dir)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and all(m in err for m in JUDGE_MODES)


# The real judge (Qwen2.5-Coder-1.5B-Instruct through llama-cpp-python) on real notes.
SEED_REWORDINGS = [
    pytest.param(
        "RLHF raised unverified positive claims from about 21% to 85% in Marketplace scenarios where the truth was unknown.",
        "rlhf-truth-indifference", marks=pytest.mark.xfail(strict=True, reason=(
            "known miss since the 4,531-claim refit with the network probe (6 Dec, fifteenth round): 0.48 against the "
            "line 0.50, reported as borderline; passed by every refit with the linear probe"))),
    ("Planting poison in a tenth of a percent of pretraining data was enough for denial-of-service, context extraction and "
     "belief manipulation to outlast SFT and DPO safety training.", "poisoning-survives-alignment"),
    # flips between refits: passes after the 3,763-claim refit (5 Dec, 0.49 against the line 0.45); missed by the
    # 2,227-, 2,611-, 3,187- and 3,379-claim refits (0.48 against 0.58, 0.36 against 0.53, 0.34 and 0.29 against 0.51),
    # passed by the 2,419-, 2,803- and 2,995-claim ones
    ("On the model's own generations, output entropy was three to four times lower than on text it did not write.",
     "outputs-as-actions"),
]
DISTORTIONS = [
    ("Adversarial training removed the backdoor in the largest models.", "sleeper-agents-persist"),
    ("The backdoors were easiest to remove in the biggest models.", "sleeper-agents-persist"),
    ("Jailbreaking was the attack that survived safety alignment, while denial-of-service was removed.", "poisoning-survives-alignment"),
]


@pytest.fixture(scope="module")
def judged_engine(shipped, embedder):
    from pipeline.chain import AnswerEngine
    from pipeline.index import load_index

    try:
        judge, note = open_judge(JudgeChoice("llm"))
    except JudgeUnavailable as exc:
        pytest.skip(f"the LLM judge is not installed: {exc}")
    return AnswerEngine(load_index(shipped, embedder.name, embedder.dim), embedder, shipped, judge=judge, judge_mode="auto", judge_note=note)


@pytest.mark.judge
@pytest.mark.parametrize("claim,note", SEED_REWORDINGS)
def test_real_judge_keeps_faithful_rewordings_of_seed_facts(judged_engine, claim, note):
    [score] = judged_engine.scorer.score([(claim, [note])])
    assert score.supported, (score.support, score.decided_by, score.unsupported)


@pytest.mark.judge
@pytest.mark.parametrize("claim,note", DISTORTIONS)
def test_real_judge_flags_distortions_without_surface_cues(judged_engine, claim, note):
    [score] = judged_engine.scorer.score([(claim, [note])])
    assert not score.supported and score.decided_by in ("judge", "features"), (score.support, score.decided_by)


# Written before the probe was fitted: a swapped-roles claim and a reversed comparison in other words, each beside
# its faithful rewording (the first pair is the case a new user met: which attack persisted, swapped).
PROBE_PAIRS = [
    pytest.param(
        "SFT and DPO safety training wiped out the jailbreak backdoor, while the denial-of-service backdoor outlasted it.",
        "SFT and DPO safety training wiped out the denial-of-service backdoor, while the jailbreak backdoor outlasted it.",
        "poisoning-survives-alignment", marks=pytest.mark.xfail(strict=True, reason=(
            "known miss: after the 4,531-claim refit with the network probe (6 Dec, fifteenth round) the faithful "
            "rewording scores 0.019 against the line 0.50 (0.024 against 0.53 after the 4,339-claim one): both sides "
            "read as unsupported. "
            "Swapped roles on fresh claims: auto flags 3, 5, 5, 4, 2, 3, 2, 3, 5, 4, 4, 4, 7, 4, 5, 4 and 6 of 8 on "
            "blind8-24, 7, 5, 7, 8, 5 and 5 on blind25-30, 5 of 8 and 4 of 7 on blind31-32, 6 and 6 of 8 on "
            "blind33-34, 6 of 7 and 7 of 8 on blind35-36, 3 and 6 of 8 on blind37-38, 5 of 8 and 6 of 7 on blind39-40, 6 and 7 of 8 on blind41-42"))),
    pytest.param(
        "The biggest models clung to their backdoors most stubbornly.",
        "Backdoors proved hardest to dislodge from the smaller models.", "sleeper-agents-persist",
        marks=pytest.mark.xfail(strict=True, reason=(
            "known miss that flips between refits: the faithful side scores 0.31 against the line 0.50 after the "
            "4,531-claim refit with the network probe (6 Dec, fifteenth round); missed after the 2,419-, 2,995-, "
            "3,187-, 3,763-, 3,955-, 4,147- and 4,339-claim refits (0.38 against 0.59, 0.41 against 0.42, 0.24 against "
            "0.51, 0.38 against 0.45, 0.23 against 0.51, 0.43 against 0.53, 0.47 against 0.53), passed after the 2,803- "
            "and 3,379-claim ones (0.66 against 0.44, "
            "0.68 against 0.51)"))),
]


@pytest.mark.judge
@pytest.mark.parametrize("faithful,distorted,note", PROBE_PAIRS)
def test_real_judge_with_its_probe_flags_swaps_and_reversals_and_passes_their_rewordings(judged_engine, faithful, distorted, note):
    scorer = judged_engine.scorer
    assert scorer.probe is not None, scorer.probe_note
    good, bad = scorer.score([(faithful, [note]), (distorted, [note])])
    print(f"\n{good.support:.3f} probe {good.probe_support} {faithful}\n{bad.support:.3f} probe {bad.probe_support} {distorted}")
    assert good.supported, (good.support, good.threshold, good.decided_by)
    assert not bad.supported and bad.clashes_with is not None, (bad.support, bad.threshold, bad.decided_by)
