"""Fit the judge's probe and the `auto` combination on development data; score every stage side by side.

The probe (pipeline/probe.py) is a small network (the averaged seeds of one ReLU layer; a logistic regression until
the fifteenth round) on the judge's standardized hidden state. The combination (ground.JudgeCombination) is a
logistic regression over the feature model's logit, the judge's Yes-No logit and
the probe's logit. Both are fitted on development sets only (FIT_SETS). Every choice maximises the mean
out-of-fold AUROC of auto, the stage a user sees, over the sets, each scored as it is measured (WiCE at claim
level: a claim's best chunk), averaged over four fold draws (FOLD_DRAWS; since the eleventh round, 5 Dec: on one
draw the probe cell chosen moved with every refit, as fold noise on the small public sets outweighed the cells'
differences). Of the cells within one standard error of the best-mean cell on every set (Hanley-McNeil, from
each set's size), the one best on our own claims wins: 40 SummaC and 140 WiCE dev claims cannot resolve the
differences of about 0.01 that otherwise traded our claims away (auto 0.912 and 0.933 on blind31/32 against the
probe alone's 0.942 and 0.949).
- The probe's regularization and the weight of our own claims against the public sets: folds grouped by note (a
  note's claims never sit in both a fit fold and its check fold; WiCE rows by claim, SummaC by item). Until the
  sixth round (4 Dec) the probe's own mean AUROC chose them, and its near-chance reading of WiCE dev swayed it.
- The combination is fitted on the chosen probe's out-of-fold logits, so it learns how far to trust the probe on
  claims the probe did not see; it picks its own weighting, whether the deterministic checks settle a sentence
  before the judge reads it, and whether it is gated (also reads the probe's domain score and its products with
  the three logits and with each alignment feature, to lean on the probe for claims on our notes and on the
  features for other text, and on our notes to weigh each feature on our claims: since the twelfth round, 5 Dec,
  a name the cited note never mentions counts there as our claims say it should). Those
  logits, and the combination's folds, are grouped by writer (each fresh set, each hand-written file), not by
  note: a claim a user checks is a new writer's, about notes the probe has seen claims on, and there the probe is
  far stronger (out of fold on 2,995 tune claims, AUROC 0.902 against 0.853 by note); stacked on note-grouped
  logits the combination leaned on the judge and trailed the probe on eight of ten fresh sets. For notes added
  later (no tune claims) the report gives auto out of fold on note-grouped logits as well.
The report says how far auto trails its best part on each set.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit  # the logistic function, row-wise
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.neural_network import MLPClassifier

from pipeline.ground import (GATED_INPUTS, JudgeCombination, JudgeCombinations, combination_values, decided_by_features,
                             feature_logit)
from pipeline.probe import JudgeProbe

from .judge_data import BLIND_SPLITS

FIT_SETS = ("claims-tune", "wice-dev", "summac-dev", "perturb-train")
BLIND_SETS = tuple(f"claims-{split}" for split in BLIND_SPLITS)
MEASURE_SETS = ("claims-measure", *BLIND_SETS, "wice-100", "perturb-test", "summac")
CLAIM_SHARES = (0.25, 0.4, 0.55, 0.7, 0.85)  # share of the total weight on our own claims; the rest split evenly
# The probe: PROBE_SEEDS networks of PROBE_UNITS ReLU units on the 1,536 standardized dimensions, their logits
# averaged. Out of fold by writer on 4,531 tune claims (fifteenth round, 6 Dec) one such network scored AUROC
# 0.951-0.955 over three seeds and alphas 0.3-3, three averaged 0.958, the logistic regression it replaces 0.929
# (C 0.003) to 0.935 (C 0.01); swapped roles 0.73 -> 0.82 right. The probe's shares: since choices are averaged
# over four fold draws (eleventh round on), every linear refit chose 85%; 70% stays as its neighbour (all five
# shares would take the network grid about an hour).
PROBE_ALPHA = (0.3, 1.0, 3.0)  # L2 strength of the network's weights
PROBE_SHARES = (0.7, 0.85)
PROBE_UNITS = 32
PROBE_SEEDS = (0, 1, 2)
FOLDS = 5
# Every choice is averaged over these fold draws (GroupKFold's own assignment, then three shuffled): on one draw the
# spread between draws on the small public sets (std 0.026-0.029 AUROC on WiCE dev and SummaC dev) exceeded the
# spread between probe cells, and the chosen cell moved with every refit.
FOLD_DRAWS = (None, 0, 1, 2)
STAGES = ("features", "judge", "probe", "combined", "auto")
BOOTSTRAP_RESAMPLES = 2000
DOMAIN_C = 0.01  # at this C the domain head is right on 99.7% of development rows out of fold (2,227 tune claims)
OUR_SETS = ("claims-", "perturb-")  # sets written on our notes: the domain head's positive class


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The cut that maximises balanced accuracy on cross-validated (out-of-fold) probabilities."""
    grid, y, p = np.linspace(0.05, 0.95, 91), np.asarray(y).astype(bool), np.asarray(p)
    above = p[:, None] >= grid[None, :]  # rows x cuts; vectorized: this runs thousands of times per fit
    bacc = ((above & y[:, None]).sum(axis=0) / y.sum() + (~above & ~y[:, None]).sum(axis=0) / (~y).sum()) / 2
    return float(grid[int(np.argmax(bacc))])


def stacked(sets: dict[str, dict], key: str) -> np.ndarray:
    return np.concatenate([np.asarray(s[key], dtype=float) for s in sets.values()])


def described(sets: dict[str, dict]) -> str:
    """The sets a probe or combination was fitted on, with their sizes, for its `trained_on` record."""
    return ", ".join(f"{k} ({len(s['y'])} rows)" for k, s in sets.items())


def set_bounds(sets: dict[str, dict]) -> list[tuple[str, int, int]]:
    ends = np.cumsum([len(s["y"]) for s in sets.values()])
    return [(name, int(e - len(s["y"])), int(e)) for (name, s), e in zip(sets.items(), ends)]


def source_weights(sets: dict[str, dict], claim_share: float) -> np.ndarray:
    """Row weights: the first set (our claims) carries `claim_share` of the total, the others share the rest
    evenly, whatever their sizes; the mean weight is 1."""
    n = sum(len(s["y"]) for s in sets.values())
    rest = (1 - claim_share) / max(len(sets) - 1, 1)
    return np.concatenate([np.full(len(s["y"]), (claim_share if i == 0 else rest) * n / len(s["y"]))
                           for i, s in enumerate(sets.values())])


def cv_groups(sets: dict[str, dict]) -> np.ndarray:
    return np.array([f"{name}/{g}" for name, s in sets.items() for g in s["folds"]])


def writer_groups(sets: dict[str, dict]) -> np.ndarray:
    """Folds by who wrote a claim (its set of origin), for sets that record it (claim sets); others keep their folds."""
    return np.array([f"{name}/{g}" for name, s in sets.items() for g in s.get("writers", s["folds"])])


def measured_aurocs(sets: dict[str, dict], values: np.ndarray) -> dict[str, float]:
    """AUROC per set as that kind of set is measured: WiCE at claim level (a claim's best chunk), the others by row."""
    y, out = stacked(sets, "y"), {}
    for name, a, b in set_bounds(sets):
        yy, pp = y[a:b], values[a:b]
        if name.startswith("wice-"):
            yy, pp, _ = _claim_level(sets[name]["groups"], yy, pp, pp)
        out[name] = round(float(roc_auc_score(yy, pp)), 4)
    return out


def group_folds(draw: int | None) -> GroupKFold:
    """Folds of one draw: None is GroupKFold's deterministic assignment, an int seeds a shuffled one."""
    return GroupKFold(FOLDS) if draw is None else GroupKFold(FOLDS, shuffle=True, random_state=draw)


def measured_counts(sets: dict[str, dict]) -> dict[str, tuple[int, int]]:
    """(supported, not supported) per set as it is measured: WiCE by claim, the others by row."""
    out = {}
    for name, s in sets.items():
        y = np.asarray(s["y"])
        if name.startswith("wice-"):
            y, _, _ = _claim_level(s["groups"], y, y.astype(float), y.astype(float))
        out[name] = (int(y.sum()), int(len(y) - y.sum()))
    return out


def auroc_standard_error(auroc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil (1982): the sampling standard error of an AUROC read on this many cases."""
    a, q1, q2 = auroc, auroc / (2 - auroc), 2 * auroc ** 2 / (1 + auroc)
    return float(np.sqrt(max(a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a), 0.0)
                         / (positives * negatives)))


def standard_errors(sets: dict[str, dict], aurocs: dict[str, float]) -> dict[str, float]:
    """Each set's AUROC standard error at these readings, from its own size."""
    counts = measured_counts(sets)
    return {n: round(auroc_standard_error(aurocs[n], *counts[n]), 4) for n in sets}


def one_standard_error_pick(per_set: dict, ours: str, errors: dict[str, float] | None = None):
    """Of the cells (each with its mean out-of-fold AUROC per set) within one standard error of the best-mean cell on
    every set, the one best on our own claims (`ours`): a public set gives way only where its size cannot resolve
    the difference (40 SummaC claims: about 0.07; 140 WiCE dev claims: 0.04; 4,100 of our claims: 0.005)."""
    means = {c: float(np.mean(list(a.values()))) for c, a in per_set.items()}
    best = per_set[max(means, key=means.get)]
    errors = errors or {}
    near = [c for c, a in per_set.items() if all(a[n] >= best[n] - errors.get(n, 0.0) for n in a)]
    return max(near, key=lambda c: (per_set[c][ours], means[c]))


def _state_scaling(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of the hidden states the probe and its domain head are fitted on."""
    return H.mean(axis=0), H.std(axis=0) + 1e-6


def _fit_standardized(H: np.ndarray, y: np.ndarray, w: np.ndarray, C: float):
    mean, scale = _state_scaling(H)
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
    clf.fit((H - mean) / scale, y, sample_weight=w)
    return clf, mean, scale


def network_probe(H: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> JudgeProbe:
    """The probe's network fitted on these rows (threshold, model and provenance left for fit_probe to fill in).

    Each class carries half the weight, as class_weight="balanced" gave the logistic probe. The PROBE_SEEDS
    networks' mean logit is one network with all their units side by side (see pipeline/probe.py)."""
    mean, scale = _state_scaling(H)
    balanced = w * len(y) / (2 * np.bincount(y, minlength=2)[y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget, alpha regularizes
        nets = [MLPClassifier((PROBE_UNITS,), alpha=alpha, max_iter=300, random_state=seed)
                .fit((H - mean) / scale, y, sample_weight=balanced) for seed in PROBE_SEEDS]
    return JudgeProbe(np.concatenate([n.coefs_[1][:, 0] for n in nets]) / len(nets),
                      float(np.mean([n.intercepts_[1][0] for n in nets])), mean.astype(float), scale.astype(float),
                      0.5, "", "", layer=np.vstack([n.coefs_[0].T for n in nets]),
                      layer_bias=np.concatenate([n.intercepts_[0] for n in nets]))


def probe_oof(H: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray, alpha: float,
              draw: int | None = None) -> np.ndarray:
    """Out-of-fold probe logits: each fold standardized and fitted on the other folds only."""
    out = np.zeros(len(y))
    for fit, check in group_folds(draw).split(H, y, groups):
        out[check] = network_probe(H[fit], y[fit], w[fit], alpha).logits(H[check])
    return out


def probe_grid(sets: dict[str, dict]) -> dict[tuple[float, float], list[np.ndarray]]:
    """Out-of-fold probe logits, folds grouped by note, for every (claim share, alpha) of the grid: one per fold draw."""
    H, y, groups = np.vstack([s["hidden"] for s in sets.values()]), stacked(sets, "y").astype(int), cv_groups(sets)
    return {(share, alpha): [probe_oof(H, y, source_weights(sets, share), groups, alpha, draw) for draw in FOLD_DRAWS]
            for share in PROBE_SHARES for alpha in PROBE_ALPHA}


def fit_probe(sets: dict[str, dict], model_sha256: str, share: float, alpha: float, oof: np.ndarray) -> JudgeProbe:
    """The probe with the chosen claim share and alpha, refitted on all rows; its threshold from its out-of-fold
    logits. Its domain head is a logistic regression on the same standardized states."""
    H, y = np.vstack([s["hidden"] for s in sets.values()]), stacked(sets, "y").astype(int)
    probe = network_probe(H, y, source_weights(sets, share), alpha)
    domain = LogisticRegression(C=DOMAIN_C, max_iter=2000, class_weight="balanced").fit(
        (H - probe.mean) / probe.scale, domain_labels(sets))
    return replace(probe, threshold=best_threshold(y, expit(oof)), model_sha256=model_sha256,
                   trained_on=(f"{described(sets)}; {len(PROBE_SEEDS)} networks of {PROBE_UNITS} units, alpha {alpha}, "
                               f"{share:.0%} of the weight on the first"),
                   domain_weights=domain.coef_[0].astype(float), domain_bias=float(domain.intercept_[0]))


@dataclass(frozen=True)
class FeatureReading:
    """What the feature model makes of every row of the sets, computed once per fit (it does not depend on the probe
    or on any choice the fit makes): the rows of FEATURES, its support with the checks, its logit, and whether the
    checks settle a row."""

    rows: np.ndarray
    support: np.ndarray
    logits: np.ndarray
    certain: np.ndarray


def read_features(model, sets: dict[str, dict]) -> FeatureReading:
    rows = np.vstack([np.asarray(s["features"]) for s in sets.values()])
    support = model.probability(rows)
    return FeatureReading(rows, support, np.array([feature_logit(p) for p in support]),
                          np.array([decided_by_features(r) for r in rows]))


def combination_matrix(model, sets: dict[str, dict], inputs: tuple[str, ...], probe_logits: np.ndarray | None,
                       domain: np.ndarray | None = None, reading: FeatureReading | None = None) -> np.ndarray:
    reading = reading or read_features(model, sets)
    fl, jl = reading.logits, stacked(sets, "judge")
    q = probe_logits if probe_logits is not None else np.zeros(len(fl))
    ds = domain if domain is not None else [None] * len(fl)
    rows = [combination_values(a, b, c, d, f) for a, b, c, d, f in zip(fl, jl, q, ds, reading.rows)]
    return np.array([[r[name] for name in inputs] for r in rows])


def standardizer(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of each combination input over the fit rows (label-free), so one regularization strength
    treats a logit and a word count alike; a constant column keeps scale 1."""
    scale = X.std(axis=0)
    return X.mean(axis=0), np.where(scale > 1e-9, scale, 1.0)


def domain_labels(sets: dict[str, dict]) -> np.ndarray:
    return np.concatenate([np.full(len(s["y"]), int(name.startswith(OUR_SETS))) for name, s in sets.items()])


def domain_oof(sets: dict[str, dict]) -> np.ndarray:
    """Out-of-fold domain scores (P(our notes' kind of text)) from the hidden states, folds grouped as everywhere."""
    H, d, groups = np.vstack([s["hidden"] for s in sets.values()]), domain_labels(sets), cv_groups(sets)
    out = np.zeros(len(d))
    for fit, check in GroupKFold(FOLDS).split(H, d, groups):
        clf, mean, scale = _fit_standardized(H[fit], d[fit], np.ones(len(fit)), DOMAIN_C)
        out[check] = clf.predict_proba((H[check] - mean) / scale)[:, 1]
    return out


def _auto(p_feat: np.ndarray, combined: np.ndarray, certain: np.ndarray, short_circuit: bool,
          feature_threshold: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(support, decision) of auto: the features where they settle a sentence (if allowed), else combined."""
    settled = certain & short_circuit
    return np.where(settled, p_feat, combined), np.where(settled, p_feat >= feature_threshold, combined >= threshold)


def fit_combination(model, sets: dict[str, dict], inputs: tuple[str, ...], probe_logits: np.ndarray | None,
                    domain: np.ndarray | None = None, groups: np.ndarray | None = None,
                    draws: tuple[int | None, ...] = FOLD_DRAWS,
                    reading: FeatureReading | None = None) -> tuple[JudgeCombination, dict]:
    """Logistic regression over `inputs`, or with out-of-fold `domain` scores given, over them and the gated inputs
    if that does better, with folds by `groups` (default: cv_groups). Its own weighting of our claims against the
    public sets, whether the checks settle sentences before the judge, and whether it is gated are chosen by the
    mean out-of-fold AUROC of auto over the sets, each measured as it is measured (WiCE at claim level), averaged
    over the fold `draws`: of the cells within one standard error of the best on every set, the one best on our
    claims (one_standard_error_pick). Returns the combination and a report (the first draw's figures) of how far
    auto trails its best part on each set; "criterion" is the chosen cell's averaged mean."""
    groups = cv_groups(sets) if groups is None else groups
    reading = reading or read_features(model, sets)
    plain = _fit_combination_over(model, sets, inputs, probe_logits, None, groups, draws, reading)
    if domain is None:
        return plain
    gated = _fit_combination_over(model, sets, inputs + GATED_INPUTS, probe_logits, domain, groups, draws, reading)
    fits = {"plain": plain, "gated": gated}
    means = {name: r["criterion"] for name, (_, r) in fits.items()}
    per_set = {name: r["drawn_auroc"] for name, (_, r) in fits.items()}
    errors = standard_errors(sets, per_set[max(means, key=means.get)])
    combination, report = fits[one_standard_error_pick(per_set, next(iter(sets)), errors)]
    return combination, report | {"gated": combination.gated, "mean_auroc_plain_gated": means}


def combination_oof(X: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray,
                     X_check: np.ndarray | None = None, draw: int | None = None) -> np.ndarray:
    """Out-of-fold support of a combination fitted on rows of X; read on the same rows of X_check if given (the
    same inputs built from other probe logits)."""
    X_check = X if X_check is None else X_check
    oof = np.zeros(len(y))
    for fit, check in group_folds(draw).split(X, y, groups):
        clf = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced").fit(X[fit], y[fit], sample_weight=w[fit])
        oof[check] = clf.predict_proba(X_check[check])[:, 1]
    return oof


def _fit_combination_over(model, sets: dict[str, dict], inputs: tuple[str, ...], probe_logits: np.ndarray | None,
                          domain: np.ndarray | None, groups: np.ndarray, draws: tuple[int | None, ...],
                          reading: FeatureReading) -> tuple[JudgeCombination, dict]:
    """fit_combination for one fixed set of inputs (standardized: see standardizer)."""
    raw, y = combination_matrix(model, sets, inputs, probe_logits, domain, reading), stacked(sets, "y").astype(int)
    centre, scale = standardizer(raw)
    X = (raw - centre) / scale
    p_feat, certain = reading.support, reading.certain
    parts = {"features": p_feat, "judge": raw[:, inputs.index("judge_logit")]}
    if probe_logits is not None:
        parts["probe"] = probe_logits
    part_aurocs = {name: measured_aurocs(sets, v) for name, v in parts.items()}
    best_part = {name: max(a[name] for a in part_aurocs.values()) for name in sets}
    choices, criterion, per_set = {}, {}, {}
    for share in CLAIM_SHARES:
        oofs = [combination_oof(X, y, source_weights(sets, share), groups, draw=draw) for draw in draws]
        threshold = best_threshold(y, oofs[0])
        for short in (True, False):
            support, decided = _auto(p_feat, oofs[0], certain, short, model.threshold, threshold)
            aurocs = measured_aurocs(sets, support)
            losses = {name: round(aurocs[name] - best_part[name], 4) for name in sets}
            baccs = {name: round(float(balanced_accuracy_score(y[a:b], decided[a:b])), 4) for name, a, b in set_bounds(sets)}
            choices[(share, short)] = (threshold, aurocs, baccs, losses)
            drawn = [aurocs] + [measured_aurocs(sets, _auto(p_feat, oof, certain, short, model.threshold, threshold)[0])
                                for oof in oofs[1:]]  # the first draw's are the aurocs above
            per_set[(share, short)] = {name: float(np.mean([d[name] for d in drawn])) for name in sets}
            criterion[(share, short)] = float(np.mean(list(per_set[(share, short)].values())))
    errors = standard_errors(sets, per_set[max(criterion, key=criterion.get)])
    share, short = one_standard_error_pick(per_set, next(iter(sets)), errors)
    threshold, aurocs, baccs, losses = choices[(share, short)]
    clf = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced").fit(X, y, sample_weight=source_weights(sets, share))
    combination = JudgeCombination(inputs, tuple(float(c) for c in clf.coef_[0]), float(clf.intercept_[0]), threshold,
                                   f"{described(sets)}; {share:.0%} of the weight on the first", short,
                                   tuple(float(c) for c in centre), tuple(float(v) for v in scale))
    report = {"claim_share": share, "short_circuit": short, "oof_auroc": aurocs, "oof_bacc": baccs,
              "best_part_auroc": best_part, "auroc_minus_best_part": losses,
              "criterion": round(criterion[(share, short)], 4),
              "standard_errors": errors, "drawn_auroc": {n: round(v, 4) for n, v in per_set[(share, short)].items()},
              "grid_mean_auroc": {f"share {s} checks first {c}": round(v, 4) for (s, c), v in criterion.items()}}
    return combination, report


def fit_all(model, sets: dict[str, dict], model_sha256: str) -> tuple[JudgeProbe, JudgeCombinations, dict]:
    """The probe whose out-of-fold logits, folds grouped by note, give auto (the combination fitted on them) its
    best mean out-of-fold AUROC, averaged over the fold draws (of the cells within one standard error of the best
    on every set, the one best on our claims); then both combinations (with the probe, and logit-only for server
    judges) stacked on that probe's logits out of fold by writer, with folds by writer, as a fresh claim on a
    shipped note meets them. The report adds auto out of fold on note-grouped probe logits: what a note added
    later gets."""
    inputs = ("feature_logit", "judge_logit", "probe_logit")
    domain, reading = domain_oof(sets), read_features(model, sets)
    grid = probe_grid(sets)
    drawn = {key: [fit_combination(model, sets, inputs, oof, domain, draws=(draw,), reading=reading)[1]
                   for oof, draw in zip(oofs, FOLD_DRAWS)] for key, oofs in grid.items()}
    per_set = {key: {n: float(np.mean([r["drawn_auroc"][n] for r in rs])) for n in sets} for key, rs in drawn.items()}
    auto_mean = {key: float(np.mean(list(a.values()))) for key, a in per_set.items()}
    errors = standard_errors(sets, per_set[max(auto_mean, key=auto_mean.get)])
    (share, alpha) = one_standard_error_pick(per_set, next(iter(sets)), errors)
    new_notes, writers = grid[(share, alpha)][0], writer_groups(sets)
    H, y = np.vstack([s["hidden"] for s in sets.values()]), stacked(sets, "y").astype(int)
    oof = probe_oof(H, y, source_weights(sets, share), writers, alpha)
    with_probe, r1 = fit_combination(model, sets, inputs, oof, domain, writers, reading=reading)
    r1["oof_auroc_new_notes"] = auto_on_other_logits(model, sets, with_probe, r1["claim_share"], oof, new_notes, domain,
                                                     writers, reading)
    probe = fit_probe(sets, model_sha256, share, alpha, oof)
    logit_only, r2 = fit_combination(model, sets, ("feature_logit", "judge_logit"), None, None, writers, reading=reading)
    probe_report = {"alpha": alpha, "claim_share": share, "oof_auroc": measured_aurocs(sets, oof),
                    "oof_auroc_new_notes": measured_aurocs(sets, new_notes),
                    "domain_oof_accuracy": round(float(((domain >= 0.5) == domain_labels(sets)).mean()), 4),
                    "grid_auto_mean_auroc": {f"share {s} alpha {c}": round(v, 4) for (s, c), v in auto_mean.items()},
                    "grid_auto_per_set": {f"share {s} alpha {c}": {n: round(v, 4) for n, v in a.items()}
                                          for (s, c), a in per_set.items()},
                    "standard_errors": errors,
                    "grid_probe_mean_auroc": {
                        f"share {s} alpha {c}": round(float(np.mean([np.mean(list(measured_aurocs(sets, o).values()))
                                                                 for o in oofs])), 4)
                        for (s, c), oofs in grid.items()}}
    return probe, JudgeCombinations(with_probe, logit_only), {"probe": probe_report, "with_probe": r1, "logit_only": r2}


def auto_on_other_logits(model, sets: dict[str, dict], combination: JudgeCombination, share: float,
                         fitted_on: np.ndarray, read_on: np.ndarray, domain: np.ndarray, groups: np.ndarray,
                         reading: FeatureReading | None = None) -> dict[str, float]:
    """Auto's AUROC per set out of fold, the combination fitted on inputs built from the probe logits `fitted_on`
    and read on the same rows built from `read_on` (e.g. note-grouped logits: claims on notes the probe never saw)."""
    reading = reading or read_features(model, sets)
    X = combination.standardized(combination_matrix(model, sets, combination.inputs, fitted_on, domain, reading))
    X_read = combination.standardized(combination_matrix(model, sets, combination.inputs, read_on, domain, reading))
    combined = combination_oof(X, stacked(sets, "y").astype(int), source_weights(sets, share), groups, X_read)
    support, _ = _auto(reading.support, combined, reading.certain, combination.short_circuit, model.threshold,
                       combination.threshold)
    return measured_aurocs(sets, support)


def stage_scores(model, combos: JudgeCombinations, probe: JudgeProbe | None, scored: dict) -> dict[str, np.ndarray]:
    """Support and decision per row for each stage: features alone, judge alone (logit 0), probe alone (its own
    threshold), combined (the logit-only combination, as for a server judge), and auto as `inquire score --judge
    auto` computes it with the local judge and probe."""
    reading = read_features(model, {"scored": scored})
    feats, p_feat, certain = reading.rows, reading.support, reading.certain
    judge_logits = np.asarray(scored["judge"], dtype=float)
    out = {"features": (p_feat, p_feat >= model.threshold), "judge": (expit(judge_logits), judge_logits >= 0)}
    logit_only = combos.logit_only
    rows = [{"feature_logit": fl, "judge_logit": j} for fl, j in zip(reading.logits, judge_logits)]
    combined = np.array([logit_only.probability(r) for r in rows])
    out["combined"] = _auto(p_feat, combined, certain, logit_only.short_circuit, model.threshold, logit_only.threshold)
    if probe is not None and scored.get("hidden") is not None and combos.with_probe is not None:
        probe_logits = probe.logits(scored["hidden"])
        out["probe"] = (expit(probe_logits), expit(probe_logits) >= probe.threshold)
        full = combos.with_probe
        domains = [probe.domain(h) for h in scored["hidden"]]
        with_probe = np.array([full.probability(combination_values(r["feature_logit"], r["judge_logit"], q, d, f))
                               for r, q, d, f in zip(rows, probe_logits, domains, feats)])
        out["auto"] = _auto(p_feat, with_probe, certain, full.short_circuit, model.threshold, full.threshold)
    else:
        out["auto"] = out["combined"]
    out["_certain"] = (certain, certain)
    return out


def _claim_level(groups: list[str], y: np.ndarray, p: np.ndarray, d: np.ndarray):
    """WiCE: a claim scores the maximum over its evidence chunks, and is decided supported if any chunk is. Scores may
    be logits (the probe's, the judge's), so the maximum starts from minus infinity, not 0."""
    best, label, dec = {}, {}, {}
    for g, pi, yi, di in zip(groups, p, y, d):
        best[g], label[g], dec[g] = max(best.get(g, -np.inf), pi), max(label.get(g, 0), yi), max(dec.get(g, 0.0), di)
    return np.array(list(label.values())), np.array(list(best.values())), np.array(list(dec.values()))


def bootstrap_interval(y: np.ndarray, p: np.ndarray, d: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = 0) -> dict[str, list[float]]:
    """95% percentile intervals of AUROC and balanced accuracy over claims drawn with replacement (a resample
    missing a class is drawn again): on 96 claims one set's reading moves by several hundredths, and the interval
    says how many."""
    rng, aurocs, baccs = np.random.default_rng(seed), [], []
    while len(aurocs) < resamples:
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            aurocs.append(roc_auc_score(y[i], p[i]))
            baccs.append(balanced_accuracy_score(y[i], d[i]))
    return {name: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
            for name, v in (("auroc", aurocs), ("bacc", baccs))}


def side_by_side(model, combos: JudgeCombinations, probe: JudgeProbe | None, scored: dict, claim_level: bool = False,
                 interval: bool = False) -> dict:
    """AUROC and balanced accuracy per stage for one set; with `interval`, auto's 95% bootstrap interval too."""
    stages = stage_scores(model, combos, probe, scored)
    y = np.asarray(scored["y"])
    out = {"rows": len(y), "decided_by_features": round(float(stages["_certain"][0].mean()), 4)}
    for stage in STAGES:
        if stage not in stages:
            continue
        p, d = stages[stage]
        yy, pp, dd = _claim_level(scored["groups"], y, p, d.astype(float)) if claim_level else (y, p, d.astype(float))
        out[stage] = {"auroc": round(float(roc_auc_score(yy, pp)), 4), "bacc": round(float(balanced_accuracy_score(yy, dd)), 4)}
        if interval and stage == "auto":
            out[stage]["ci95"] = bootstrap_interval(yy, pp, dd)
    return out


def pooled(sets: dict[str, dict], names: tuple[str, ...]) -> dict:
    """Several scored sets as one (their rows in order), e.g. the fresh sets read with the same fitted files."""
    parts = [sets[n] for n in names]
    out = {key: [v for s in parts for v in s[key]] for key in ("y", "groups", "kinds", "folds", "features", "judge", "claims")}
    hidden = [s["hidden"] for s in parts]
    out["hidden"] = np.vstack(hidden) if all(h is not None for h in hidden) else None
    out["name"] = "+".join(names)
    return out


def per_kind(model, combos: JudgeCombinations, probe: JudgeProbe | None, scored: dict) -> dict:
    """Share decided correctly per kind of claim (rewording, scope, swapped_roles, ...), per stage."""
    stages = stage_scores(model, combos, probe, scored)
    y = np.asarray(scored["y"]).astype(bool)
    out = {}
    for kind in dict.fromkeys(scored["kinds"]):
        mask = np.array([k == kind for k in scored["kinds"]])
        out[kind] = {"n": int(mask.sum())} | {s: round(float((stages[s][1][mask] == y[mask]).mean()), 3)
                                              for s in STAGES if s in stages}
    return out
