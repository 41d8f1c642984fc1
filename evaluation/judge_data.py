"""Feature and judge scores for the grounding evaluation, computed once and cached in bench/judge_scores.json.

The judge takes ~1-2 s a claim on 2 cores, so its verdicts are cached by (model, claim, evidence): a rerun of
`make eval-grounding` or `make train-grounding` only judges what it has not seen. Sets:
- claims-tune / claims-measure: tests/data/grounding_claims_*.jsonl, hand-written against the notes;
- wice-dev (first `WICE_DEV_CLAIMS` claims, for fitting the combination) and wice-100 (the 100 test claims with
  published scores, for measuring only);
- perturb-test (the first `PERTURB_PER_KIND` cases of each kind of the perturbation suite on the held-out
  notes) and summac (the first `SUMMAC_PER_SUBSET` of each subset): measuring only.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from pipeline.ground import COMBINATION_FILE, JudgeCombination, decided_by_features, judge_evidence
from .grounding_data import claim_rows, corpus_rows, shared_data_dir
from pipeline.text import split_sentences

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
CACHE = Path("bench") / "judge_scores.json"
WICE_DEV_CLAIMS = 80  # WiCE dev claims the judge reads for fitting the combination (~3 chunks each)
COMBINATION_SHARES = (0.5, 0.6, 0.7, 0.8)  # weight shares tried for our own claims when fitting the combination
PERTURB_PER_KIND = 20  # perturbation cases per kind the judge reads (the features score all of them)
SUMMAC_PER_SUBSET = 30  # SummaC items per subset the judge reads (the features score all of them)


def hand_claims(split: str) -> list[dict]:
    rows = []
    for name in sorted(DATA.glob("grounding_claims_*.jsonl")):
        for n, line in enumerate(name.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                r = json.loads(line)
                if r.get("split") not in ("tune", "measure") or r.get("label") not in ("supported", "not_supported"):
                    raise ValueError(f"{name}:{n}: needs split tune|measure and label supported|not_supported")
                if r["split"] == split:
                    rows.append(r)
    return rows


def _key(model: str, claim: str, evidence: list[str]) -> str:
    return hashlib.sha256(json.dumps([model, claim, evidence]).encode("utf-8")).hexdigest()[:24]


def prompt_fingerprint() -> str:
    """SHA-256 of the judge's instruction and question: verdicts cached under another prompt are not reused."""
    from pipeline.judge import QUESTION, SYSTEM

    return hashlib.sha256((SYSTEM + "\n" + QUESTION).encode("utf-8")).hexdigest()


class JudgeCache:
    """Judge verdicts on disk (JSON), keyed by model, claim and evidence, for one prompt (see prompt_fingerprint)."""

    def __init__(self, judge, path: Path = CACHE):
        self.judge, self.path = judge, path
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        self.store = data.get("logits", {}) if data.get("prompt_sha256") == prompt_fingerprint() else {}
        self.added = 0

    def logit(self, claim: str, evidence: list[str]) -> float:
        key = _key(getattr(self.judge, "name", "judge"), claim, evidence)
        if key not in self.store:
            self.store[key] = round(self.judge.support(claim, evidence).logit, 4)
            self.added += 1
            if self.added % 20 == 0:
                self.save()
        return self.store[key]

    def save(self) -> None:
        """Write the verdicts (atomically); a reader that judged nothing new leaves the file alone."""
        if not self.added:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"prompt_sha256": prompt_fingerprint(), "logits": self.store}, indent=0, sort_keys=True),
                       encoding="utf-8")
        tmp.replace(self.path)


def _hand_pairs(split: str, corpus_sentences) -> tuple[list, list, list, list]:
    rows = hand_claims(split)
    pairs = [(r["claim"], [t for nid in r["ids"] for t, _ in corpus_sentences(nid)]) for r in rows]
    return pairs, [int(r["label"] == "supported") for r in rows], [f"claims-{split}:{i}" for i in range(len(rows))], [r["kind"] for r in rows]


def _wice_pairs(name: str) -> tuple[list, list, list, list]:
    split = "dev" if name == "wice-dev" else "test"
    raw = [json.loads(l) for l in (shared_data_dir() / "wice" / f"{split}.jsonl").read_text().splitlines() if l.strip()]
    if name == "wice-100":  # exactly the claims the WiCE authors published scores for
        keep = set(json.loads((shared_data_dir() / "wice" / "published_scores_test100.json").read_text())["gpt-4-0613"])
    else:
        keep = set(list(dict.fromkeys(r["meta"]["id"] for r in raw))[:WICE_DEV_CLAIMS])
    raw = [r for r in raw if r["meta"]["id"] in keep]
    pairs = [(r["claim"], [e for e in r["evidence"] if e.strip()] or [""]) for r in raw]
    return pairs, [int(r["label"] == "supported") for r in raw], [r["meta"]["id"] for r in raw], [r["label"] for r in raw]


def _perturbation_pairs(embedder) -> tuple[list, list, list, list, np.ndarray]:
    """The perturbation suite on the held-out half of the notes, scored against body sentences."""
    from pipeline.notes import load_corpus
    from pipeline.settings import Settings

    rows, cases = corpus_rows(Settings().corpus_dir, embedder, test_half=True)
    bodies = {n.id: n.sentences for n in load_corpus(Settings().corpus_dir).notes}
    counts: dict[str, int] = {}
    keep = []
    for i, c in enumerate(cases):
        counts[c.kind] = counts.get(c.kind, 0) + 1
        if counts[c.kind] <= PERTURB_PER_KIND:
            keep.append(i)
    pairs = [(cases[i].claim, bodies[cases[i].cited]) for i in keep]
    return (pairs, [int(cases[i].label) for i in keep], [f"perturb:{i}" for i in keep], [cases[i].kind for i in keep],
            rows.X[keep])


def _summac_pairs(per_subset: int = SUMMAC_PER_SUBSET) -> tuple[list, list, list, list]:
    pairs, y, groups, kinds = [], [], [], []
    for name in ("factcc", "xsumfaith", "summeval", "polytope"):
        items = list(json.loads((shared_data_dir() / "summac" / f"{name}.json").read_text()).values())[:per_subset]
        pairs += [(it["claim"], split_sentences(it["document"])[:80] or [it["document"][:2000]]) for it in items]
        y += [int(str(it["label"]) == "1") for it in items]
        groups += [f"{name}:{i}" for i in range(len(items))]
        kinds += [name] * len(items)
    return pairs, y, groups, kinds


def scored_set(name: str, embedder, corpus_sentences, vec, cache: JudgeCache | None) -> dict:
    """{"y", "groups", "kinds", "features" (rows of FEATURES), "judge" (Yes-No logits, or None), "claims"}."""
    feats = None
    if name.startswith("claims-"):
        pairs, y, groups, kinds = _hand_pairs(name.split("-", 1)[1], corpus_sentences)
    elif name.startswith("wice-"):
        pairs, y, groups, kinds = _wice_pairs(name)
    elif name == "perturb-test":
        pairs, y, groups, kinds, feats = _perturbation_pairs(embedder)
    elif name == "summac":
        pairs, y, groups, kinds = _summac_pairs()
    else:
        raise ValueError(f"unknown evaluation set '{name}'")
    if feats is None:
        feats = claim_rows(pairs, y, groups, vec).X
    judge = None
    if cache is not None:
        judge = []
        for i, (claim, evidence) in enumerate(pairs):
            judge.append(cache.logit(claim, judge_evidence(vec([claim])[0], evidence, vec(evidence))))
            if i % 25 == 0:
                print(f"  {name}: judged {i + 1}/{len(pairs)}", file=sys.stderr, flush=True)
        cache.save()
    return {"y": y, "groups": groups, "kinds": kinds, "features": np.asarray(feats).tolist(), "judge": judge,
            "claims": [c for c, _ in pairs]}




def feature_support(model, feats: np.ndarray) -> np.ndarray:
    return model.probability(np.asarray(feats))


def combination_inputs(model, scored: dict) -> np.ndarray:
    """[logit of the feature support, judge logit] per row, the combination's two inputs."""
    p = np.clip(feature_support(model, scored["features"]), 1e-4, 1 - 1e-4)
    return np.column_stack([np.log(p / (1 - p)), np.asarray(scored["judge"], dtype=float)])


def fit_combination(model, sets: dict[str, dict]) -> tuple[JudgeCombination, dict]:
    """Logistic regression on the development sets. The first set (our own claims, the product's domain) gets
    a share of the weight chosen from COMBINATION_SHARES by the mean out-of-fold AUROC over the sets; the
    threshold maximises out-of-fold balanced accuracy. Returns the combination and its out-of-fold AUROC per set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    from .train_grounding import best_threshold

    X = np.vstack([combination_inputs(model, s) for s in sets.values()])
    y = np.concatenate([s["y"] for s in sets.values()])
    groups = [g for s in sets.values() for g in s["groups"]]
    bounds = np.cumsum([0] + [len(s["y"]) for s in sets.values()])
    best = None
    for share in COMBINATION_SHARES:
        rest = (1 - share) / max(len(sets) - 1, 1)
        w = np.concatenate([np.full(len(s["y"]), (share if i == 0 else rest) * len(y) / len(s["y"])) for i, s in enumerate(sets.values())])
        clf = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced")
        oof = cross_val_predict(clf, X, y, cv=GroupKFold(5), groups=groups, method="predict_proba", params={"sample_weight": w})[:, 1]
        report = {name: round(float(roc_auc_score(y[a:b], oof[a:b])), 4) for name, a, b in zip(sets, bounds[:-1], bounds[1:])}
        score = float(np.mean(list(report.values())))
        if best is None or score > best[0]:
            best = (score, share, w, oof, report)
    _, share, w, oof, report = best
    clf = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced").fit(X, y, sample_weight=w)
    names = ", ".join(f"{k} ({len(s['y'])} rows)" for k, s in sets.items())
    combination = JudgeCombination(tuple(float(c) for c in clf.coef_[0]), float(clf.intercept_[0]), best_threshold(y, oof),
                                   f"{names}; {share:.0%} of the weight on the first")
    return combination, report


def save_combination(combination: JudgeCombination, path: Path = COMBINATION_FILE) -> None:
    path.write_text(json.dumps({"inputs": ["logit(feature support)", "judge logit(Yes) - logit(No)"],
                                "weights": list(combination.weights), "bias": combination.bias,
                                "threshold": combination.threshold, "trained_on": combination.trained_on}, indent=1))


def stage_scores(model, combination: JudgeCombination, scored: dict) -> dict[str, np.ndarray]:
    """Support per row for each stage: features alone, judge alone, combined, and auto (features where
    `decided_by_features`, combined elsewhere), the last as `inquire score --judge auto` computes it."""
    feats = np.asarray(scored["features"])
    p_feat = feature_support(model, feats)
    judge = 1.0 / (1.0 + np.exp(-np.asarray(scored["judge"], dtype=float)))
    combined = np.array([combination.probability(pf, jl) for pf, jl in zip(p_feat, scored["judge"])])
    certain = np.array([decided_by_features(row) for row in feats])
    return {"features": p_feat, "judge": judge, "combined": combined, "auto": np.where(certain, p_feat, combined),
            "_certain": certain}


def decisions(model, combination: JudgeCombination, stages: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Supported or not per stage, each at its own threshold (auto: the threshold of the stage that decided)."""
    return {"features": stages["features"] >= model.threshold, "judge": stages["judge"] >= 0.5,
            "combined": stages["combined"] >= combination.threshold,
            "auto": np.where(stages["_certain"], stages["features"] >= model.threshold, stages["combined"] >= combination.threshold)}


def side_by_side(model, combination: JudgeCombination, scored: dict, claim_level: bool = False) -> dict:
    """AUROC and balanced accuracy per stage for one set (WiCE: a claim scores the max over its chunks)."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    stages = stage_scores(model, combination, scored)
    decided = decisions(model, combination, stages)
    y = np.asarray(scored["y"])
    out = {"rows": len(y), "decided_by_features": round(float(stages["_certain"].mean()), 4)}
    for stage in ("features", "judge", "combined", "auto"):
        p, d = stages[stage], decided[stage].astype(float)
        yy = y
        if claim_level:
            best, label, dec = {}, {}, {}
            for g, pi, yi, di in zip(scored["groups"], p, y, d):
                best[g], label[g], dec[g] = max(best.get(g, 0.0), pi), max(label.get(g, 0), yi), max(dec.get(g, 0.0), di)
            p, yy, d = np.array(list(best.values())), np.array(list(label.values())), np.array(list(dec.values()))
        out[stage] = {"auroc": round(float(roc_auc_score(yy, p)), 4), "bacc": round(float(balanced_accuracy_score(yy, d)), 4)}
    return out


def per_kind(model, combination: JudgeCombination, scored: dict) -> dict:
    """Share decided correctly per kind of claim (rewording, scope, swapped_roles, ...), per stage."""
    decided = decisions(model, combination, stage_scores(model, combination, scored))
    y = np.asarray(scored["y"]).astype(bool)
    out = {}
    for kind in dict.fromkeys(scored["kinds"]):
        mask = np.array([k == kind for k in scored["kinds"]])
        out[kind] = {"n": int(mask.sum())} | {s: round(float((decided[s][mask] == y[mask]).mean()), 3) for s in decided}
    return out


MEASURE_SETS = ("claims-measure", "wice-100", "perturb-test", "summac")
FIT_SETS = ("claims-tune", "wice-dev")


def note_sentences_from_corpus():
    """note id -> [(sentence, None)]: body sentences then summary sentences, as the answer engine offers them."""
    from pipeline.notes import load_corpus
    from pipeline.settings import Settings

    notes = {n.id: n.sentences + split_sentences(n.summary) for n in load_corpus(Settings().corpus_dir).notes}
    return lambda nid: [(t, None) for t in notes.get(nid, [])]


def judged_sets(names, embedder, vec, judge) -> dict[str, dict]:
    cache = JudgeCache(judge)
    corpus_sentences = note_sentences_from_corpus()
    return {name: scored_set(name, embedder, corpus_sentences, vec, cache) for name in names}


def sentences_per_second(judge, claims: list[tuple[str, list[str]]]) -> dict[str, float]:
    """Scorer throughput per mode on the same claims (fresh verdicts, not the cache)."""
    import time

    from pipeline.embed import load_embedder
    from pipeline.ground import GroundingScorer

    corpus_sentences = note_sentences_from_corpus()
    out = {}
    for mode in ("features", "auto", "llm"):
        scorer = GroundingScorer(load_embedder(), corpus_sentences, judge=judge, mode=mode)
        start = time.perf_counter()
        scorer.score(claims, fast_quotes=False)
        out[mode] = round(len(claims) / (time.perf_counter() - start), 3)
    return out
