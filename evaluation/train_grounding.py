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
from .grounding_data import corpus_rows, wice_rows
from pipeline.settings import Settings, force_offline


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The cut that maximises balanced accuracy on cross-validated (out-of-fold) probabilities."""
    grid = np.linspace(0.05, 0.95, 91)
    return float(grid[int(np.argmax([balanced_accuracy_score(y, p >= t) for t in grid]))])


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
    """With the judge installed: fit how its verdict combines with the feature model, on dev sets only."""
    from pipeline.judge import JudgeUnavailable, load_local_judge
    from .judge_data import FIT_SETS, fit_combination, judged_sets, save_combination

    try:
        judge = load_local_judge()
    except JudgeUnavailable as exc:
        print(f"judge combination not fitted: {exc}")
        return
    sets = judged_sets(FIT_SETS, embedder, EmbeddingCache(embedder, limit=None), judge)
    combination, oof = fit_combination(model, sets)
    save_combination(combination)
    print(f"wrote the judge combination: weights {combination.weights}, bias {combination.bias:.3f}, "
          f"threshold {combination.threshold:.2f}; out-of-fold AUROC {oof}")


if __name__ == "__main__":
    sys.exit(main())
