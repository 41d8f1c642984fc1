"""`make train-grounding`: fit the grounding scorer's logistic model on development data only.

Training data: WiCE dev (../shared/data/wice/dev.jsonl) and perturbations of the notes in the
training half of the corpus. WiCE test, SummaC and the other half of the notes are for measuring
only (`make eval-grounding`). Seeds are fixed, so the JSON it writes is reproducible.
"""
from __future__ import annotations

import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from pipeline.ground import FEATURES, MODEL_FEATURES, MODEL_FILE, GroundingModel, apply_checks
from pipeline.embed import EmbeddingCache
from .fit_judge import best_threshold
from .grounding_data import corpus_rows, wice_rows
from pipeline.settings import Settings, force_offline


def main() -> int:
    force_offline()
    from pipeline.embed import load_embedder

    embedder = load_embedder()
    wice = wice_rows("dev", EmbeddingCache(embedder, limit=None))
    corpus, _ = corpus_rows(Settings().corpus_dir, embedder, test_half=False)
    columns = [FEATURES.index(f) for f in MODEL_FEATURES]
    X = np.vstack([wice.X, corpus.X])[:, columns]
    y = np.concatenate([wice.y, corpus.y])
    # WiCE weighs 70% in total so the many perturbation rows do not drown real claims (chosen by
    # out-of-fold results on these development pools only).
    w = np.concatenate([np.full(len(wice.y), 0.7 / len(wice.y)), np.full(len(corpus.y), 0.3 / len(corpus.y))]) * len(y)
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-6
    Z = (X - mean) / scale
    clf = LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced")
    groups = list(wice.group) + [f"corpus-{i // 7}" for i in range(len(corpus.y))]  # a claim's rows stay in one fold
    oof = cross_val_predict(clf, Z, y, cv=GroupKFold(5), groups=groups, method="predict_proba", params={"sample_weight": w})[:, 1]
    full_X = np.vstack([wice.X, corpus.X])
    oof = np.array([apply_checks(p, row) for p, row in zip(oof, full_X)])
    threshold = best_threshold(y, oof)
    clf.fit(Z, y, sample_weight=w)
    model = GroundingModel(clf.coef_[0], float(clf.intercept_[0]), mean, scale, threshold,
                           f"WiCE dev ({len(wice.y)} rows) + perturbations of the training-half notes ({len(corpus.y)} cases)")
    MODEL_FILE.write_text(json.dumps(model.to_json(), indent=1))
    n_w = len(wice.y)
    print(f"wrote {MODEL_FILE}; threshold {threshold:.2f}")
    print(f"out-of-fold AUROC: WiCE dev rows {roc_auc_score(wice.y, oof[:n_w]):.3f}, corpus perturbations {roc_auc_score(corpus.y, oof[n_w:]):.3f}")
    for name, weight in sorted(zip(MODEL_FEATURES, clf.coef_[0]), key=lambda t: -abs(t[1])):
        print(f"  {name:18} {weight:+.3f}")
    fit_judge_combination(embedder, model)
    return 0


def fit_judge_combination(embedder, model: GroundingModel) -> None:
    """With the judge installed: fit the probe on its hidden state and the combinations, on dev sets only."""
    from pipeline.ground import COMBINATION_FILE
    from pipeline.judge import JudgeUnavailable, load_local_judge
    from pipeline.probe import PROBE_FILE, save_probe
    from .fit_judge import FIT_SETS, fit_all
    from .judge_data import judged_sets

    try:
        judge = load_local_judge()
    except JudgeUnavailable as exc:
        print(f"judge probe and combination not fitted: {exc}")
        return
    sets = judged_sets(FIT_SETS, embedder, EmbeddingCache(embedder, limit=None), judge)
    probe, combos, report = fit_all(model, sets, judge.model_sha256)
    save_probe(probe)
    COMBINATION_FILE.write_text(json.dumps({"with_probe": combos.with_probe.to_json(),
                                             "logit_only": combos.logit_only.to_json()}, indent=1))
    print(f"wrote {PROBE_FILE} (alpha {report['probe']['alpha']}, {report['probe']['claim_share']:.0%} weight on our claims, "
          f"threshold {probe.threshold:.2f}); out-of-fold AUROC {report['probe']['oof_auroc']}")
    for name in ("with_probe", "logit_only"):
        c = getattr(combos, name)
        print(f"wrote the {name} combination: {dict(zip(c.inputs, (round(w, 3) for w in c.weights)))}, bias {c.bias:.3f}, "
              f"threshold {c.threshold:.2f}, checks settle first: {c.short_circuit}; out-of-fold {report[name]}")


if __name__ == "__main__":
    sys.exit(main())
