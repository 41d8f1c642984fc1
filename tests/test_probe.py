"""The probe on the judge's hidden state: its formula, its file (JSON, tied to one model's hash), and how the
scorer uses it. The real judge and the shipped probe on real notes are in tests/test_grounding_judge.py."""
import json

import numpy as np
import pytest

from pipeline.ground import GroundingScorer, JudgeCombination, JudgeCombinations
from pipeline.judge import DEFAULT_MODEL, MODELS, JudgeVerdict
from pipeline.probe import PROBE_FILE, JudgeProbe, ProbeMismatch, load_probe, probe_for, save_probe

SHA = "ab" * 32


def small_probe(sha: str = SHA) -> JudgeProbe:
    return JudgeProbe(np.array([2.0, -1.0, 0.5]), -0.25, np.array([1.0, 0.0, -1.0]), np.array([2.0, 1.0, 0.5]), 0.4, sha, "test")


def test_the_probe_is_a_logistic_regression_on_the_standardized_state():
    probe, h = small_probe(), np.array([3.0, 2.0, 0.0])
    expected = 2.0 * (3 - 1) / 2 - 1.0 * (2 - 0) / 1 + 0.5 * (0 + 1) / 0.5 - 0.25
    assert probe.logit(h) == pytest.approx(expected)
    assert probe.logits(np.vstack([h, h])) == pytest.approx([expected, expected])
    with pytest.raises(ProbeMismatch, match="hidden state has 2 values, the probe expects 3"):
        probe.logit(np.zeros(2))


def layered_probe(sha: str = SHA) -> JudgeProbe:
    return JudgeProbe(np.array([1.5, -2.0]), 0.25, np.array([1.0, 0.0, -1.0]), np.array([2.0, 1.0, 0.5]), 0.4, sha, "test",
                      layer=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]]), layer_bias=np.array([-0.5, 0.5]))


def test_a_layered_probe_reads_relu_units_of_the_standardized_state_and_survives_the_file(tmp_path):
    probe, h = layered_probe(), np.array([3.0, 2.0, 0.0])
    z = np.array([(3 - 1) / 2, (2 - 0) / 1, (0 + 1) / 0.5])  # 1, 2, 2
    units = np.maximum([z[0] - 0.5, z[1] - z[2] + 0.5], 0)  # 0.5, 0.5
    expected = 1.5 * units[0] - 2.0 * units[1] + 0.25
    assert probe.logit(h) == pytest.approx(expected)
    assert probe.logit(np.array([1.0, 0.0, 1.0])) == pytest.approx(1.5 * 0 - 2.0 * 0 + 0.25)  # both units off
    path = tmp_path / "probe.json"
    save_probe(probe, path)
    assert load_probe(SHA, path).logits(np.vstack([h, h])) == pytest.approx([expected, expected])
    data = json.loads(path.read_text())
    data["layer"] = [[1.0, 0.0], [0.0, 1.0]]  # two dimensions for a three-dimensional state
    path.write_text(json.dumps(data))
    with pytest.raises(ProbeMismatch, match="damaged.*layer \\(2, 2\\)"):
        load_probe(SHA, path)
    data["layer"] = [[1.0, 0.0, 0.0], [0.0, 1.0]]  # ragged
    path.write_text(json.dumps(data))
    with pytest.raises(ProbeMismatch, match="damaged"):
        load_probe(SHA, path)
    data["layer"] = 5.0  # not a matrix
    path.write_text(json.dumps(data))
    with pytest.raises(ProbeMismatch, match="damaged"):
        load_probe(SHA, path)
    del data["layer"]  # a bias for units that are not there
    path.write_text(json.dumps(data))
    with pytest.raises(ProbeMismatch, match="damaged"):
        load_probe(SHA, path)


def test_a_probe_file_is_plain_json_and_reads_back(tmp_path):
    path = tmp_path / "probe.json"
    save_probe(small_probe(), path)
    data = json.loads(path.read_text())
    assert data["model_sha256"] == SHA and len(data["weights"]) == 3
    again = load_probe(SHA, path)
    assert again.logit(np.ones(3)) == pytest.approx(small_probe().logit(np.ones(3)))


def test_a_probe_fitted_for_another_model_is_refused_naming_both_hashes(tmp_path):
    path = tmp_path / "probe.json"
    save_probe(small_probe(), path)
    other = "cd" * 32
    with pytest.raises(ProbeMismatch, match=f"SHA-256 {SHA}, not {other}.*make train-grounding"):
        load_probe(other, path)

    class OtherModelJudge:
        model_sha256 = other

    probe, note = probe_for(OtherModelJudge(), path)
    assert probe is None and "probe not used" in note


def test_a_damaged_probe_file_is_refused(tmp_path):
    path = tmp_path / "probe.json"
    save_probe(small_probe(), path)
    data = json.loads(path.read_text())
    data["scale"] = [1.0, 0.0, 1.0]
    path.write_text(json.dumps(data))
    with pytest.raises(ProbeMismatch, match="damaged"):
        load_probe(SHA, path)


def test_a_server_judge_or_no_probe_file_keeps_the_logit_path(tmp_path):
    class ServerLike:
        name = "server:x"

    assert probe_for(ServerLike())[0] is None
    assert probe_for(type("J", (), {"model_sha256": SHA})(), tmp_path / "missing.json")[0] is None


class HiddenStateJudge:
    """Plumbing only: a fixed logit and a fixed hidden state (the real judge is tested in test_grounding_judge.py)."""

    name, model_sha256 = "hidden", SHA

    def __init__(self, logit: float, hidden: np.ndarray):
        self.logit, self.hidden = logit, hidden

    def support(self, claim, evidence):
        return JudgeVerdict(1 / (1 + np.exp(-self.logit)), self.logit, 10, 0.0, self.hidden)


def test_the_scorer_combines_the_probe_with_the_judge_when_it_has_one(engine):
    claim = ("Adversarial training reliably removed the backdoors in the largest models.", ["sleeper-agents-persist"])
    combos = JudgeCombinations(
        JudgeCombination(("feature_logit", "judge_logit", "probe_logit"), (0.0, 0.0, 1.0), 0.0, 0.5, "test", False),
        JudgeCombination(("feature_logit", "judge_logit"), (0.0, 1.0), 0.0, 0.5, "test", False))
    judge = HiddenStateJudge(3.0, np.array([1.0, 0.0, -1.0]))  # the judge says yes; the probe reads 0 - 0.25 (no)
    with_probe = GroundingScorer(engine.embedder, engine.note_sentences, judge=judge, mode="llm", combination=combos,
                                 probe=small_probe())
    [score] = with_probe.score([claim])
    assert score.probe_support == pytest.approx(1 / (1 + np.exp(0.25)), abs=1e-4) and not score.supported
    assert score.clashes_with is not None and score.clashes_with["id"] == "sleeper-agents-persist"
    assert score.verdict == "borderline, not supported" and score.threshold == 0.5
    # no probe given: the shipped probe is looked up for the judge's hash, which is not the one it was fitted for
    without = GroundingScorer(engine.embedder, engine.note_sentences, judge=judge, mode="llm", combination=combos)
    assert without.probe is None
    [plain] = without.score([claim])
    assert plain.probe_support is None and plain.supported and plain.clashes_with is None


def test_the_shipped_probe_is_fitted_for_the_default_judge_on_dev_sets_only():
    probe = load_probe(MODELS[DEFAULT_MODEL].sha256, PROBE_FILE)
    assert probe.mean.shape == (1536,) and probe.layer.shape == (probe.weights.size, 1536)
    for held_out in ("measure", "blind", "test", "wice-100", "summac ("):
        assert held_out not in probe.trained_on, probe.trained_on
    assert "claims-tune" in probe.trained_on


def test_the_domain_head_reads_the_same_standardized_state_and_survives_the_file(tmp_path):
    gated = JudgeProbe(*[getattr(small_probe(), f) for f in ("weights", "bias", "mean", "scale", "threshold",
                                                             "model_sha256", "trained_on")],
                       np.array([0.0, 1.0, 0.0]), 0.5)
    h = np.array([3.0, 2.0, 0.0])
    assert gated.domain(h) == pytest.approx(1 / (1 + np.exp(-(2.0 + 0.5))))
    assert small_probe().domain(h) is None
    path = tmp_path / "probe.json"
    save_probe(gated, path)
    assert load_probe(SHA, path).domain(h) == pytest.approx(gated.domain(h))
    data = json.loads(path.read_text())
    data["domain_weights"] = [1.0]
    path.write_text(json.dumps(data))
    with pytest.raises(ProbeMismatch, match="domain"):
        load_probe(SHA, path)


def scorers_by_domain(engine, judge, combos) -> dict[str, GroundingScorer]:
    """Scorers in llm mode whose probe's domain head calls every text ours ("ours") or public ("public")."""
    fields = ("weights", "bias", "mean", "scale", "threshold", "model_sha256", "trained_on")
    out = {}
    for name, bias in (("ours", 20.0), ("public", -20.0)):
        probe = JudgeProbe(*[getattr(small_probe(), f) for f in fields], np.zeros(3), bias)
        out[name] = GroundingScorer(engine.embedder, engine.note_sentences, judge=judge, mode="llm", combination=combos,
                                    probe=probe)
    return out


def test_a_gated_combination_weighs_each_reader_by_the_domain_score(engine):
    """On text the domain head calls ours the gated combination follows the probe; elsewhere the judge."""
    claim = ("Adversarial training reliably removed the backdoors in the largest models.", ["sleeper-agents-persist"])
    gated = JudgeCombination(("judge_logit", "domain_x_probe_logit", "domain_x_judge_logit"), (1.0, 4.0, -1.0), 0.0, 0.5,
                             "test", False)
    combos = JudgeCombinations(gated, JudgeCombination(("feature_logit", "judge_logit"), (0.0, 1.0), 0.0, 0.5, "test", False))
    judge = HiddenStateJudge(3.0, np.array([1.0, 0.0, -1.0]))  # the judge says yes; the probe reads -0.25 (no)
    scores = {name: scorer.score([claim])[0] for name, scorer in scorers_by_domain(engine, judge, combos).items()}
    assert not scores["ours"].supported and scores["public"].supported
    no_head = GroundingScorer(engine.embedder, engine.note_sentences, judge=judge, mode="llm", combination=combos,
                              probe=small_probe())
    with pytest.raises(ValueError, match="domain"):
        no_head.score([claim])


def test_a_gated_combination_reads_each_feature_on_our_kind_of_text(engine):
    """With the domain score high, a feature the combination weighs (here: names the cited note never mentions)
    moves the support, read through the centre and scale the combination records; with it low, it does not."""
    faithful = ("Adversarial training reliably removed the backdoors in the largest models.", ["sleeper-agents-persist"])
    misnamed = ("Adversarial training reliably removed the backdoors in the largest Gemini Ultra models.",
                ["sleeper-agents-persist"])
    gated = JudgeCombination(("judge_logit", "domain_x_names_missing"), (1.0, -8.0), 0.0, 0.5, "test", False,
                             (0.0, 0.5), (1.0, 0.5))
    combos = JudgeCombinations(gated, JudgeCombination(("feature_logit", "judge_logit"), (0.0, 1.0), 0.0, 0.5, "test", False))
    judge = HiddenStateJudge(3.0, np.array([1.0, 0.0, -1.0]))
    verdicts = {name: scorer.score([faithful, misnamed]) for name, scorer in scorers_by_domain(engine, judge, combos).items()}
    ours, public = verdicts["ours"], verdicts["public"]
    assert ours[1].features["names_missing"] >= 1 and ours[0].features["names_missing"] == 0
    assert ours[0].supported and not ours[1].supported
    assert public[0].supported and public[1].supported
    assert JudgeCombination.from_json(gated.to_json()) == gated


def test_a_combination_file_with_mismatched_centres_or_a_zero_scale_is_refused():
    data = JudgeCombination(("judge_logit", "probe_logit"), (1.0, 1.0), 0.0, 0.5, "test", True, (0.0, 1.0), (1.0, 2.0)).to_json()
    with pytest.raises(ValueError, match="one centre and scale"):
        JudgeCombination.from_json(data | {"centre": [0.0]})
    with pytest.raises(ValueError, match="every scale must be positive"):
        JudgeCombination.from_json(data | {"scale": [1.0, 0.0]})
