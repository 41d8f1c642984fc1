"""`make eval-grounding`: measure the grounding scorer; prints a table, writes bench/grounding.json.

WiCE test (claim level, max over chunks), the 100 WiCE claims with published scores side by side,
SummaC subsets (balanced accuracy), the perturbation suite on the held-out half of the notes, and
calibration (Brier score, reliability table). None of this data is used for training.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score

from .ground import load_grounding_model
from .embed import EmbeddingCache
from .grounding_data import by_claim, corpus_rows, shared_data_dir, summac_rows, wice_rows
from .perturb import NEGATIVE_KINDS, POSITIVE_KINDS
from .settings import Settings, force_offline

OUT = Path("bench") / "grounding.json"
SUMMAC = ("factcc", "xsumfaith", "summeval", "polytope")


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 5) -> list[dict]:
    edges = np.linspace(0, 1, bins + 1)
    table = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if mask.any():
            table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(mask.sum()), "mean_p": round(float(p[mask].mean()), 3),
                          "observed": round(float(y[mask].mean()), 3)})
    return table


def main() -> int:
    force_offline()
    from .embed import load_embedder

    start = time.perf_counter()
    embedder, model = load_embedder(), load_grounding_model()
    vec = EmbeddingCache(embedder, limit=None)
    results: dict = {"threshold": model.threshold, "trained_on": model.trained_on}

    rows = wice_rows("test", vec)
    ids, p, y = by_claim(rows, model.probability(rows.X))
    results["wice_test"] = {"claims": len(ids), "auroc": round(roc_auc_score(y, p), 4),
                            "bacc": round(balanced_accuracy_score(y, p >= model.threshold), 4),
                            "brier": round(brier_score_loss(y, p), 4), "reliability": reliability(y, p)}
    published = json.loads((shared_data_dir() / "wice" / "published_scores_test100.json").read_text())
    first = [i for i in published["gpt-4-0613"]]
    ours = dict(zip(ids, p))
    labels = dict(zip(ids, y))
    y100 = np.array([labels[i] for i in first])
    results["wice_100"] = {"claims": len(first), "positives": int(y100.sum()),
                           "auroc": round(roc_auc_score(y100, [ours[i] for i in first]), 4),
                           "published": {name: round(roc_auc_score(y100, [scores[i] for i in first]), 4) for name, scores in published.items()}}

    results["summac"] = {}
    for name in SUMMAC:
        s = summac_rows(name, vec)
        ps = model.probability(s.X)
        results["summac"][name] = {"n": len(s.y), "bacc": round(balanced_accuracy_score(s.y, ps >= model.threshold), 4),
                                   "auroc": round(roc_auc_score(s.y, ps), 4)}

    corpus, cases = corpus_rows(Settings().corpus_dir, embedder, test_half=True)
    pc = model.probability(corpus.X)
    decided = (pc >= model.threshold).astype(int) == corpus.y
    results["perturbations"] = {kind: {"n": int(sum(1 for g in corpus.group if g == kind)),
                                       "correct": round(float(np.mean([d for d, g in zip(decided, corpus.group) if g == kind])), 4)}
                                for kind in POSITIVE_KINDS + NEGATIVE_KINDS if kind in corpus.group}
    results["perturbations_auroc"] = round(roc_auc_score(corpus.y, pc), 4)
    results["seconds"] = round(time.perf_counter() - start, 1)

    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0


def table(r: dict) -> str:
    w = r["wice_test"]
    lines = [f"{'measure':44} value", f"{'WiCE test AUROC (' + str(w['claims']) + ' claims)':44} {w['auroc']:.3f}",
             f"{'WiCE test balanced accuracy':44} {w['bacc']:.3f}", f"{'WiCE test Brier':44} {w['brier']:.3f}",
             f"{'WiCE 100 AUROC: ours':44} {r['wice_100']['auroc']:.3f}"]
    lines += [f"{'WiCE 100 AUROC: ' + k:44} {v:.3f}" for k, v in r["wice_100"]["published"].items()]
    lines += [f"{'SummaC ' + k + ' balanced accuracy':44} {v['bacc']:.3f}" for k, v in r["summac"].items()]
    lines += [f"{'perturbation ' + k + ' correct (n=' + str(v['n']) + ')':44} {v['correct']:.3f}" for k, v in r["perturbations"].items()]
    lines += [f"{'reliability ' + b['bin'] + ' (n=' + str(b['n']) + ')':44} p={b['mean_p']:.2f} observed={b['observed']:.2f}" for b in w["reliability"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
