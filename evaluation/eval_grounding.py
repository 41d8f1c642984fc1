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

from pipeline.ground import load_grounding_model
from pipeline.embed import EmbeddingCache
from .grounding_data import by_claim, corpus_rows, shared_data_dir, summac_rows, wice_rows
from .fit_judge import BLIND_SETS, MEASURE_SETS, per_kind, pooled, side_by_side
from .perturb import NEGATIVE_KINDS, POSITIVE_KINDS
from pipeline.settings import Settings, force_offline

OUT = Path("bench") / "grounding.json"
PER_KIND_SETS = ("claims-measure", *BLIND_SETS, "perturb-test")  # the sets whose claims carry a kind
FRESH_POOLED = "claims-fresh"  # the fresh sets together: one reading of the fitted files on twice the claims
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
    from pipeline.embed import load_embedder

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
    results["judge"] = judge_results(embedder, model, vec)
    results["seconds"] = round(time.perf_counter() - start, 1)

    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0


def judge_results(embedder, model, vec) -> dict:
    """Features, judge, probe, combined and auto side by side on the measure-only sets (needs `make install-judge`
    and the probe and combinations fitted by `make train-grounding`)."""
    from pipeline.ground import load_combination
    from pipeline.judge import JudgeUnavailable, load_local_judge
    from pipeline.probe import probe_for
    from .judge_data import hand_claims, judged_sets, sentences_per_second

    combos = load_combination()
    try:
        judge = load_local_judge()
    except JudgeUnavailable as exc:
        return {"skipped": str(exc)}
    if combos is None:
        return {"skipped": "no fitted combination (pipeline/judge_combination.json); run `make train-grounding`"}
    probe, probe_note = probe_for(judge)
    sets = judged_sets(MEASURE_SETS + ("claims-tune",), embedder, vec, judge)
    out = {name: side_by_side(model, combos, probe, s, claim_level=name == "wice-100", interval=name != "claims-tune")
           for name, s in sets.items()}
    fresh = pooled(sets, BLIND_SETS)
    out[FRESH_POOLED] = side_by_side(model, combos, probe, fresh, interval=True) | {"kinds": per_kind(model, combos, probe, fresh)}
    for name in PER_KIND_SETS:
        out[name]["kinds"] = per_kind(model, combos, probe, sets[name])
    sample = [(r["claim"], r["ids"]) for r in hand_claims("measure")[:24]]
    out["sentences_per_second"] = sentences_per_second(judge, sample)
    out["probe"] = probe_note
    out["combination"] = {"with_probe": combos.with_probe.to_json() if combos.with_probe else None,
                          "logit_only": combos.logit_only.to_json()}
    return out


def judge_table(j: dict) -> list[str]:
    if "skipped" in j:
        return [f"LLM judge: skipped ({j['skipped']})"]
    stages = ("features", "judge", "probe", "combined", "auto")
    lines = [f"{'AUROC / balanced accuracy':30} " + " ".join(s.rjust(13) for s in stages)]
    for name in (*MEASURE_SETS, FRESH_POOLED, "claims-tune"):
        r = j[name]
        label = f"{name}{' (tune)' if name == 'claims-tune' else ''} n={r['rows']}"
        ci = r["auto"].get("ci95")
        lines.append(f"{label:30} " + " ".join((f"{r[s]['auroc']:.3f} / {r[s]['bacc']:.3f}" if s in r else "-").rjust(13)
                                              for s in stages)
                     + (f"  auto 95%: {ci['auroc'][0]:.3f}-{ci['auroc'][1]:.3f} / {ci['bacc'][0]:.3f}-{ci['bacc'][1]:.3f}"
                        if ci else ""))
    for name in (*PER_KIND_SETS, FRESH_POOLED):
        for kind, v in j[name]["kinds"].items():
            lines.append(f"  {name} {kind} (n={v['n']}) correct".ljust(50)
                         + " ".join((f"{v[s]:.2f}" if s in v else "-").rjust(7) for s in stages))
    lines.append("sentences/s: " + ", ".join(f"{k} {v}" for k, v in j["sentences_per_second"].items()))
    return lines


def table(r: dict) -> str:
    w = r["wice_test"]
    lines = [f"{'measure':44} value", f"{'WiCE test AUROC (' + str(w['claims']) + ' claims)':44} {w['auroc']:.3f}",
             f"{'WiCE test balanced accuracy':44} {w['bacc']:.3f}", f"{'WiCE test Brier':44} {w['brier']:.3f}",
             f"{'WiCE 100 AUROC: ours':44} {r['wice_100']['auroc']:.3f}"]
    lines += [f"{'WiCE 100 AUROC: ' + k:44} {v:.3f}" for k, v in r["wice_100"]["published"].items()]
    lines += [f"{'SummaC ' + k + ' balanced accuracy':44} {v['bacc']:.3f}" for k, v in r["summac"].items()]
    lines += [f"{'perturbation ' + k + ' correct (n=' + str(v['n']) + ')':44} {v['correct']:.3f}" for k, v in r["perturbations"].items()]
    lines += [f"{'reliability ' + b['bin'] + ' (n=' + str(b['n']) + ')':44} p={b['mean_p']:.2f} observed={b['observed']:.2f}" for b in w["reliability"]]
    return "\n".join(lines + judge_table(r.get("judge", {"skipped": "not run"})))


if __name__ == "__main__":
    sys.exit(main())
