"""`python -m evaluation.judge_before_after`: the grounding scorer before and after the probe, side by side.

"Before" is the feature model and logit-only combination shipped before the judge's probe (kept in
evaluation/baselines/, as they were at commit 4a203a0); "after" is what pipeline/ ships now. Both read the same
cached verdicts (bench/judge_scores.json, bench/judge_states.npz): this judges only what the cache lacks. Writes
bench/judge_before_after.json: per measure-only set, AUROC and balanced accuracy per stage, and per kind of claim
the share decided correctly.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from pipeline.ground import JudgeCombination, JudgeCombinations, load_combination, load_grounding_model

from .fit_judge import MEASURE_SETS, per_kind, side_by_side

BASELINES = Path(__file__).resolve().parent / "baselines"
OUT = Path("bench") / "judge_before_after.json"
SETS = tuple(s for s in MEASURE_SETS if s.startswith(("claims-", "perturb-"))) + ("claims-tune",)


def model_before():
    return load_grounding_model(BASELINES / "grounding_model_before_probe.json")


def combination_before() -> JudgeCombinations:
    """The logit-only combination of before the probe; its file predates named inputs."""
    data = json.loads((BASELINES / "judge_combination_before_probe.json").read_text(encoding="utf-8"))
    old = JudgeCombination(("feature_logit", "judge_logit"), tuple(data["weights"]), float(data["bias"]),
                           float(data["threshold"]), data["trained_on"], True)
    return JudgeCombinations(None, old)


def compare(sets: dict[str, dict], probe) -> dict:
    before, combos_before = model_before(), combination_before()
    after, combos_after = load_grounding_model(), load_combination()
    out = {}
    for name, scored in sets.items():
        out[name] = {"before": side_by_side(before, combos_before, None, scored),
                     "after": side_by_side(after, combos_after, probe, scored),
                     "kinds_before": per_kind(before, combos_before, None, scored),
                     "kinds_after": per_kind(after, combos_after, probe, scored)}
    return out


def main() -> int:
    from pipeline.embed import EmbeddingCache, load_embedder
    from pipeline.judge import load_local_judge
    from pipeline.probe import probe_for
    from pipeline.settings import force_offline

    from .judge_data import judged_sets

    force_offline()
    embedder, judge = load_embedder(), load_local_judge()
    probe, _ = probe_for(judge)
    result = compare(judged_sets(SETS, embedder, EmbeddingCache(embedder, limit=None), judge), probe)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1), encoding="utf-8")
    for name, r in result.items():
        cells = [f"{when} auto {r[when]['auto']['auroc']:.3f} / {r[when]['auto']['bacc']:.3f}" for when in ("before", "after")]
        best = max((s for s in ("features", "judge", "probe") if s in r["after"]), key=lambda s: r["after"][s]["bacc"])
        print(f"{name:16} n={r['after']['rows']:4}  " + "  ".join(cells)
              + f"  best part after: {best} {r['after'][best]['bacc']:.3f}")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
