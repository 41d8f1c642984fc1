"""The combination's fitting rule: its set weighting and short-circuit chosen by mean out-of-fold AUROC, each set
measured as it is measured (WiCE at claim level)."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier

from evaluation import fit_judge
from evaluation.fit_judge import (FOLD_DRAWS, PROBE_SEEDS, PROBE_UNITS, auroc_standard_error, bootstrap_interval, fit_all,
                                  fit_combination, measured_aurocs, network_probe, one_standard_error_pick, pooled)
from pipeline.features import FEATURES

SIGNAL = FEATURES.index("coverage_best")  # the column the stand-in feature model reads


def _feature_rows(signal: np.ndarray) -> np.ndarray:
    """Rows no deterministic check settles (related evidence, no quote, no number or direction clash)."""
    rows = np.zeros((len(signal), len(FEATURES)))
    rows[:, FEATURES.index("max_cos")] = 0.8
    rows[:, SIGNAL] = signal
    return rows


def _sets(seed: int = 0) -> tuple[dict, np.ndarray]:
    """Two sets pulling opposite ways: on 'claims-x' only the judge and probe know the label, on 'wice-x' only the
    features do (WiCE rows come in chunks of a claim, scored at claim level)."""
    rng = np.random.default_rng(seed)
    sets, probe = {}, []
    for name, judge_knows in (("claims-x", True), ("wice-x", False)):
        y = rng.integers(0, 2, 240)
        informed, noise = 2.5 * (2 * y - 1) + rng.normal(0, 1.5, len(y)), rng.normal(0, 1.5, len(y))
        judge = informed if judge_knows else noise
        feature_signal = noise if judge_knows else informed
        groups = [f"{name}:{i // 2}" for i in range(len(y))]
        sets[name] = {"y": y.tolist(), "judge": judge.tolist(), "features": _feature_rows(feature_signal).tolist(),
                      "groups": groups, "folds": [f"{i % 12}" for i in range(len(y))]}
        probe.append(judge + rng.normal(0, 0.5, len(y)))
    return sets, np.concatenate(probe)


@pytest.fixture(autouse=True)
def one_probe_seed(monkeypatch):
    """One network per probe fit keeps the synthetic grids quick (three seeds tripled these tests' minutes);
    that the seeds' average is one network is tested on its own below."""
    monkeypatch.setattr(fit_judge, "PROBE_SEEDS", (0,))


def test_the_probe_network_is_the_average_of_its_seeds_as_one_layer(monkeypatch):
    monkeypatch.setattr(fit_judge, "PROBE_SEEDS", PROBE_SEEDS)
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 300)
    y[:200] = 1  # unbalanced: each class still carries half the weight
    H = np.column_stack([(2 * y - 1) + rng.normal(0, 1, len(y)), rng.normal(5, 3, (len(y), 4))])
    w = np.ones(len(y))
    probe = network_probe(H, y, w, alpha=1.0)
    assert probe.layer.shape == (len(PROBE_SEEDS) * PROBE_UNITS, 5) and probe.weights.shape == (len(PROBE_SEEDS) * PROBE_UNITS,)
    Z = (H - H.mean(axis=0)) / (H.std(axis=0) + 1e-6)
    ones = y.sum()
    balanced = np.where(y == 1, len(y) / (2 * ones), len(y) / (2 * (len(y) - ones)))
    logits = []
    for seed in PROBE_SEEDS:
        net = MLPClassifier((PROBE_UNITS,), alpha=1.0, max_iter=300, random_state=seed).fit(Z, y, sample_weight=balanced)
        p = np.clip(net.predict_proba(Z)[:, 1], 1e-12, 1 - 1e-12)
        logits.append(np.log(p / (1 - p)))
    assert probe.logits(H) == pytest.approx(np.mean(logits, axis=0), abs=1e-6)
    assert roc_auc_score(y, probe.logits(H)) > 0.8


def _model():
    return SimpleNamespace(threshold=0.5, probability=lambda feats: expit(np.asarray(feats)[:, SIGNAL]))


def test_measured_aurocs_scores_wice_at_claim_level():
    sets = {"wice-x": {"y": [1, 0, 0, 0], "groups": ["a", "a", "b", "b"]},
            "claims-x": {"y": [1, 0, 0, 0], "groups": ["a", "a", "b", "b"]}}
    values = np.array([0.1, 0.9, 0.5, 0.2, 0.1, 0.9, 0.5, 0.2])
    aurocs = measured_aurocs(sets, values)
    assert aurocs["wice-x"] == 1.0  # claim a's best chunk 0.9 beats claim b's 0.5
    assert aurocs["claims-x"] == 0.0  # row by row the one supported row scores lowest


def test_wice_claim_level_ranks_negative_logits():
    """Probe and judge scores are logits: a claim whose chunks all score below 0 still ranks by its best chunk."""
    sets = {"wice-x": {"y": [1, 0, 0, 0, 0], "groups": ["a", "a", "b", "b", "c"]}}
    assert measured_aurocs(sets, np.array([-1.0, -4.0, -2.0, -3.0, -5.0]))["wice-x"] == 1.0


def test_combination_does_not_lose_much_to_its_best_part_on_either_set():
    sets, probe_logits = _sets()
    inputs = ("feature_logit", "judge_logit", "probe_logit")
    combination, report = fit_combination(_model(), sets, inputs, probe_logits)
    assert max(report["grid_mean_auroc"].values()) - max(report["standard_errors"].values()) <= report["criterion"]
    for name in sets:
        assert report["oof_auroc"][name] >= report["best_part_auroc"][name] - 0.1, (name, report)
    weights = dict(zip(combination.inputs, combination.weights))
    assert weights["feature_logit"] > 0 and weights["judge_logit"] + weights["probe_logit"] > 0


def test_every_choice_of_the_combination_is_averaged_over_the_fold_draws():
    """One fold draw's criterion is noisy on small sets; each grid cell's criterion is the mean over FOLD_DRAWS of
    what that cell scores on each draw alone, and the cell chosen is the best mean, not the best first draw."""
    sets, probe_logits = _sets(seed=8)
    inputs = ("feature_logit", "judge_logit", "probe_logit")
    _, report = fit_combination(_model(), sets, inputs, probe_logits)
    per_draw = [fit_combination(_model(), sets, inputs, probe_logits, draws=(draw,))[1]["grid_mean_auroc"]
                for draw in FOLD_DRAWS]
    assert len(FOLD_DRAWS) > 1 and len({tuple(d.values()) for d in per_draw}) > 1  # the draws do differ
    for cell, value in report["grid_mean_auroc"].items():
        assert abs(value - np.mean([d[cell] for d in per_draw])) <= 1e-4, cell


def test_the_auroc_standard_error_matches_the_spread_of_repeated_samples():
    rng = np.random.default_rng(9)
    readings = []
    for _ in range(400):
        y = np.r_[np.ones(20), np.zeros(20)]
        readings.append(roc_auc_score(y, y * 1.2 + rng.normal(0, 1, 40)))
    se = auroc_standard_error(float(np.mean(readings)), 20, 20)
    assert 0.8 * np.std(readings) < se < 1.25 * np.std(readings)
    assert auroc_standard_error(0.9, 1800, 1800) < se / 5  # our 3,600 claims resolve far finer differences


def test_within_one_standard_error_on_every_set_our_claims_decide():
    per_set = {"a": {"ours": 0.90, "public": 0.80}, "b": {"ours": 0.92, "public": 0.75},
               "c": {"ours": 0.95, "public": 0.60}}
    assert one_standard_error_pick(per_set, "ours", {"ours": 0.005, "public": 0.07}) == "b"  # c loses beyond the noise
    assert one_standard_error_pick(per_set, "ours", {"ours": 0.005, "public": 0.25}) == "c"
    assert one_standard_error_pick(per_set, "ours", {"ours": 0.005, "public": 0.01}) == "a"
    assert one_standard_error_pick(per_set, "ours") == "a"  # no errors given: the best mean


def test_the_probe_is_chosen_by_what_auto_scores_out_of_fold():
    """fit_all picks the probe's claim share and regularization by the mean out-of-fold AUROC of auto (the
    combination fitted on that probe's logits), not by the probe's own: of the cells within one standard error of
    the grid's best, the one best on our claims; and the probe records the model it was fitted for."""
    sets, probe_logits = _sets(seed=1)
    rng = np.random.default_rng(2)
    start = 0
    for s in sets.values():
        n = len(s["y"])
        signal = probe_logits[start:start + n]
        s["hidden"] = np.column_stack([signal + rng.normal(0, 1.0, n), rng.normal(0, 1.0, (n, 5))])
        start += n
    probe, combos, report = fit_all(_model(), sets, "sha-of-the-model")
    grid, per_set = report["probe"]["grid_auto_mean_auroc"], report["probe"]["grid_auto_per_set"]
    errors = report["probe"]["standard_errors"]
    best = per_set[max(grid, key=grid.get)]
    near = [c for c, a in per_set.items() if all(a[n] >= best[n] - errors[n] - 1e-4 for n in a)]
    chosen = f"share {report['probe']['claim_share']} alpha {report['probe']['alpha']}"
    assert chosen in near and per_set[chosen]["claims-x"] >= max(per_set[c]["claims-x"] for c in near) - 1e-4
    assert len(grid) == len(report["probe"]["grid_probe_mean_auroc"]) > 1
    assert probe.model_sha256 == "sha-of-the-model" and probe.layer.shape == (probe.weights.size, 6)
    reach = np.abs(probe.layer.T) @ np.abs(probe.weights)  # how strongly each dimension reaches the logit
    assert reach[0] > max(reach[1:])  # it reads the informative dimension


def test_the_bootstrap_interval_holds_the_reading_and_narrows_with_more_claims():
    rng = np.random.default_rng(3)

    def interval(n: int) -> tuple[float, dict]:
        y = rng.integers(0, 2, n)
        p = y + rng.normal(0, 0.8, n)
        return roc_auc_score(y, p), bootstrap_interval(y, p, (p >= 0.5).astype(float), resamples=400)

    point, small = interval(96)
    _, large = interval(960)
    assert small["auroc"][0] < point < small["auroc"][1]
    assert 0 <= small["bacc"][0] < small["bacc"][1] <= 1
    assert large["auroc"][1] - large["auroc"][0] < (small["auroc"][1] - small["auroc"][0]) / 2
    same_y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    assert bootstrap_interval(same_y, same_y.astype(float), same_y.astype(float), resamples=50) == \
        bootstrap_interval(same_y, same_y.astype(float), same_y.astype(float), resamples=50)


def test_pooled_sets_keep_every_row_in_order():
    sets, _ = _sets()
    for s in sets.values():
        s["kinds"], s["claims"] = ["k"] * len(s["y"]), ["c"] * len(s["y"])
        s["hidden"] = np.ones((len(s["y"]), 3))
    both = pooled(sets, ("claims-x", "wice-x"))
    assert both["y"] == sets["claims-x"]["y"] + sets["wice-x"]["y"]
    assert both["judge"][:240] == sets["claims-x"]["judge"] and both["hidden"].shape == (480, 3)
    sets["wice-x"]["hidden"] = None
    assert pooled(sets, ("claims-x", "wice-x"))["hidden"] is None


def test_a_measured_claim_written_word_for_word_as_a_tune_claim_is_left_out(tmp_path, monkeypatch):
    import json

    from evaluation import judge_data

    rows = [{"claim": "RMU  halved the score.", "ids": ["a"], "label": "supported", "kind": "rounded", "split": "tune"},
            {"claim": "rmu halved the score.", "ids": ["a"], "label": "supported", "kind": "rounded", "split": "measure"},
            {"claim": "RMU doubled the score.", "ids": ["a"], "label": "not_supported", "kind": "opposite", "split": "measure"}]
    (tmp_path / "grounding_claims_x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(judge_data, "DATA", tmp_path)
    assert [r["claim"] for r in judge_data.measured_claims("measure")] == ["RMU doubled the score."]
    assert len(judge_data.measured_claims("tune")) == 1


def test_the_combination_is_gated_when_the_hidden_state_tells_the_kinds_of_text_apart():
    """claims-x is read only by the judge and probe, wice-x only by the features; with a hidden dimension that tells
    the two apart, the gated combination wins the mean out-of-fold AUROC and loses less to the best part."""
    sets, probe_logits = _sets(seed=4)
    rng = np.random.default_rng(5)
    start = 0
    for name, s in sets.items():
        n = len(s["y"])
        side = 1.0 if name.startswith("claims") else -1.0
        s["hidden"] = np.column_stack([probe_logits[start:start + n], side + rng.normal(0, 0.3, n), rng.normal(0, 1, (n, 3))])
        start += n
    probe, combos, report = fit_all(_model(), sets, "sha")
    assert combos.with_probe.gated and report["with_probe"]["gated"]
    means = report["with_probe"]["mean_auroc_plain_gated"]
    assert means["gated"] > means["plain"]
    assert probe.domain(sets["claims-x"]["hidden"][0]) > 0.5 > probe.domain(sets["wice-x"]["hidden"][0])


def test_the_combination_learns_the_probe_as_a_fresh_writer_on_a_known_note_meets_it(monkeypatch):
    """claims-x: 30 notes, each with claims by 4 writers; the hidden state carries a note-specific direction whose
    sign is the label, so the probe reads claims on notes it was fitted on and is blind on a new note. Stacked on
    writer-grouped logits the combination uses the probe; the report also gives the new-note view, where it cannot.
    Grouped by note the probe is noise here, so which claim share it gets is a coin toss; the grid keeps the shares
    that weigh claims-x most (this test is about the stacking, not the share)."""
    monkeypatch.setattr(fit_judge, "CLAIM_SHARES", (0.7, 0.85))
    sets, _ = _sets(seed=6)
    rng = np.random.default_rng(7)
    claims = sets["claims-x"]
    n = len(claims["y"])
    notes = np.arange(n) // 8
    directions = rng.normal(0, 1, (30, 200))
    sign = 2 * np.array(claims["y"]) - 1
    claims["hidden"] = sign[:, None] * directions[notes] + rng.normal(0, 1.0, (n, 200))
    claims["folds"] = [f"note{k}" for k in notes]
    claims["writers"] = [f"writer{i % 4}" for i in range(n)]
    claims["judge"] = (sign + rng.normal(0, 3.0, n)).tolist()
    sets["wice-x"]["hidden"] = rng.normal(0, 1, (len(sets["wice-x"]["y"]), 200))
    probe, combos, report = fit_all(_model(), sets, "sha")
    assert report["probe"]["oof_auroc"]["claims-x"] > 0.8 > 0.65 > report["probe"]["oof_auroc_new_notes"]["claims-x"]
    judge_alone = roc_auc_score(claims["y"], claims["judge"])
    auto = report["with_probe"]["oof_auroc"]["claims-x"]
    assert auto > judge_alone + 0.15  # stacked on note-grouped logits (noise here) it could not use the probe
    assert report["with_probe"]["oof_auroc_new_notes"]["claims-x"] < auto - 0.05


def test_the_gated_combination_weighs_a_feature_the_feature_model_ignores_on_our_claims():
    """On claims-x a claim naming something its note lacks is unsupported, a cue the stand-in feature model (it reads
    coverage_best only) and the judge miss; the gated combination reads names_missing on our kind of text, weighs it
    against support, and records the centre and scale it standardized each input by."""
    sets, probe_logits = _sets(seed=6)
    rng = np.random.default_rng(7)
    claims = sets["claims-x"]
    y = np.asarray(claims["y"])
    misnamed = (y == 0) & (rng.random(len(y)) < 0.6)
    rows = np.asarray(claims["features"])
    rows[:, FEATURES.index("names_missing")] = misnamed.astype(float)
    claims["features"] = rows.tolist()
    claims["judge"] = (np.asarray(claims["judge"]) * 0.3).tolist()  # a weaker judge leaves room for the cue
    domain = np.concatenate([np.ones(len(y)), np.zeros(len(sets["wice-x"]["y"]))])
    inputs = ("feature_logit", "judge_logit", "probe_logit")
    combination, report = fit_combination(_model(), sets, inputs, probe_logits * 0.3, domain)
    assert combination.gated and len(combination.centre) == len(combination.scale) == len(combination.inputs)
    weights = dict(zip(combination.inputs, combination.weights))
    feature_weights = {k: abs(v) for k, v in weights.items() if k.startswith("domain_x_") and not k.endswith("_logit")}
    assert weights["domain_x_names_missing"] < 0 and max(feature_weights, key=feature_weights.get) == "domain_x_names_missing"
