"""Feature and judge scores for the grounding evaluation, computed once and cached in bench/.

The judge takes ~1-2 s a claim on 2 cores, so its verdicts (the Yes-No logit, and the hidden state the probe
reads) are cached by (model, claim, evidence): a rerun of `make eval-grounding` or `make train-grounding` only
judges what it has not seen. Sets (see evaluation/fit_judge.py for which are fitted on and which measured):
- claims-tune / claims-measure / claims-blind41 / claims-blind42: evaluation/data/grounding_claims_*.jsonl,
  hand-written against the notes; the blind sets by people who never saw a score or the code (the forty earlier
  blind sets were measured once each, then folded into tune: their records say so in "origin");
- wice-dev (first `WICE_DEV_CLAIMS` claims) and wice-100 (the 100 test claims with published scores);
- perturb-train / perturb-test: a seeded sample of `PERTURB_PER_KIND` cases of each kind of the perturbation
  suite, on the training or held-out half of the notes;
- summac-dev / summac: SummaC items of each subset, apart (the first `SUMMAC_PER_SUBSET` are measured).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from pipeline.ground import JudgeEvidence
from .grounding_data import claim_rows, corpus_rows, shared_data_dir
from pipeline.text import split_sentences

DATA = Path(__file__).resolve().parent / "data"
CACHE = Path("bench") / "judge_scores.json"
STATES = Path("bench") / "judge_states.npz"
WICE_DEV_CLAIMS = 140  # WiCE dev claims the judge reads for fitting (~3 chunks each; ~6 s a row on one core)
PERTURB_PER_KIND = 10  # perturbation cases per kind measured (a seeded sample spread over the held-out notes)
PERTURB_TRAIN_PER_KIND = 40  # the same on the training half of the notes, for fitting (fewer where a kind has fewer)
SUMMAC_PER_SUBSET = 15  # SummaC items per subset measured (the first ones of each subset)
SUMMAC_DEV_PER_SUBSET = 10  # the next ones of each subset: development data, never measured
# Fresh sets, each written by someone who never saw a score or the code and measured once; a second set can check
# that the first set's reading of the same fitted files was not luck.
BLIND_SPLITS = ("blind41", "blind42")
CLAIM_SPLITS = ("tune", "measure", *BLIND_SPLITS)


def hand_claims(split: str) -> list[dict]:
    """The claims of a split, each with its "writer": the set it was first written as ("origin", for a fresh set
    folded into tune) or else its file's name."""
    rows = []
    for name in sorted(DATA.glob("grounding_claims_*.jsonl")):
        for n, line in enumerate(name.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                r = json.loads(line)
                if r.get("split") not in CLAIM_SPLITS or r.get("label") not in ("supported", "not_supported"):
                    raise ValueError(f"{name}:{n}: needs split {'|'.join(CLAIM_SPLITS)} and label supported|not_supported")
                if r["split"] == split:
                    rows.append(r | {"writer": r.get("origin", name.stem.removeprefix("grounding_claims_"))})
    return rows


def _key(model: str, claim: str, evidence: list[str]) -> str:
    return hashlib.sha256(json.dumps([model, claim, evidence]).encode("utf-8")).hexdigest()[:24]


def prompt_fingerprint() -> str:
    """SHA-256 of the judge's instruction and question: verdicts cached under another prompt are not reused."""
    from pipeline.judge import QUESTION, SYSTEM

    return hashlib.sha256((SYSTEM + "\n" + QUESTION).encode("utf-8")).hexdigest()


class JudgeCache:
    """Judge verdicts on disk, keyed by model, claim and evidence, for one prompt (see prompt_fingerprint): the
    Yes-No logit in bench/judge_scores.json, and for a local judge the hidden state at the answer position in
    bench/judge_states.npz (float16 rows; read with allow_pickle=False), recorded with the model's SHA-256."""

    def __init__(self, judge, path: Path = CACHE, states_path: Path = STATES):
        self.judge, self.path, self.states_path = judge, path, states_path
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        self.store = data.get("logits", {}) if data.get("prompt_sha256") == prompt_fingerprint() else {}
        self.model_sha = getattr(judge, "model_sha256", None) or ""
        self.states: dict[str, np.ndarray] = {}
        if self.model_sha and states_path.is_file():
            with np.load(states_path, allow_pickle=False) as z:
                if str(z["prompt_sha256"]) == prompt_fingerprint() and str(z["model_sha256"]) == self.model_sha:
                    self.states = dict(zip(z["keys"].tolist(), z["states"]))
        self.added = 0

    def verdict(self, claim: str, evidence: list[str]) -> tuple[float, np.ndarray | None]:
        """(Yes-No logit, hidden state or None); judged only when not cached."""
        key = _key(getattr(self.judge, "name", "judge"), claim, evidence)
        if key not in self.store or (self.model_sha and key not in self.states):
            v = self.judge.support(claim, evidence)
            self.store[key] = round(v.logit, 4)
            if v.hidden is not None:
                self.states[key] = v.hidden.astype(np.float16)
            self.added += 1
            if self.added % 25 == 0:
                self.save()
        return self.store[key], self.states.get(key)

    def logit(self, claim: str, evidence: list[str]) -> float:
        return self.verdict(claim, evidence)[0]

    def save(self) -> None:
        """Write the verdicts (atomically); a reader that judged nothing new leaves the files alone."""
        if not self.added:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"prompt_sha256": prompt_fingerprint(), "logits": self.store}, indent=0, sort_keys=True),
                       encoding="utf-8")
        tmp.replace(self.path)
        if self.states:
            keys = sorted(self.states)
            tmp = self.states_path.with_suffix(".tmp")
            with tmp.open("wb") as f:
                np.savez(f, keys=np.array(keys), states=np.stack([self.states[k] for k in keys]),
                         prompt_sha256=np.array(prompt_fingerprint()), model_sha256=np.array(self.model_sha))
            tmp.replace(self.states_path)


def _normal(claim: str) -> str:
    return " ".join(claim.lower().split())


def measured_claims(split: str) -> list[dict]:
    """The claims of a split; for a measured split, without those that are word for word a tune claim (the probe
    was fitted on those, so they are not fresh)."""
    rows = hand_claims(split)
    if split == "tune":
        return rows
    fitted = {_normal(r["claim"]) for r in hand_claims("tune")}
    kept = [r for r in rows if _normal(r["claim"]) not in fitted]
    if len(kept) < len(rows):
        print(f"  claims-{split}: {len(rows) - len(kept)} claim(s) word for word in tune left out", file=sys.stderr)
    return kept


def _hand_pairs(split: str, corpus_sentences) -> tuple[list, list, list, list, list, list]:
    rows = measured_claims(split)
    if not rows:
        raise ValueError(f"no claims with split '{split}' in {DATA}/grounding_claims_*.jsonl; add that set's file or "
                         "drop the split from BLIND_SPLITS")
    pairs = [(r["claim"], [t for nid in r["ids"] for t, _ in corpus_sentences(nid)]) for r in rows]
    return (pairs, [int(r["label"] == "supported") for r in rows], [f"claims-{split}:{i}" for i in range(len(rows))],
            [r["kind"] for r in rows], ["+".join(r["ids"]) for r in rows], [r["writer"] for r in rows])


def _wice_pairs(name: str) -> tuple[list, list, list, list, list]:
    split = "dev" if name == "wice-dev" else "test"
    raw = [json.loads(l) for l in (shared_data_dir() / "wice" / f"{split}.jsonl").read_text().splitlines() if l.strip()]
    if name == "wice-100":  # exactly the claims the WiCE authors published scores for
        keep = set(json.loads((shared_data_dir() / "wice" / "published_scores_test100.json").read_text())["gpt-4-0613"])
    else:
        keep = set(list(dict.fromkeys(r["meta"]["id"] for r in raw))[:WICE_DEV_CLAIMS])
    raw = [r for r in raw if r["meta"]["id"] in keep]
    pairs = [(r["claim"], [e for e in r["evidence"] if e.strip()] or [""]) for r in raw]
    ids = [r["meta"]["id"] for r in raw]
    return pairs, [int(r["label"] == "supported") for r in raw], ids, [r["label"] for r in raw], ids


def _perturbation_pairs(embedder, test_half: bool) -> tuple[list, list, list, list, list, np.ndarray]:
    """A seeded sample of cases per kind from one half of the notes, against body sentences."""
    import random

    from pipeline.notes import load_corpus
    from pipeline.settings import Settings

    rows, cases = corpus_rows(Settings().corpus_dir, embedder, test_half=test_half)
    bodies = {n.id: n.sentences for n in load_corpus(Settings().corpus_dir).notes}
    order = list(range(len(cases)))
    random.Random(23).shuffle(order)
    counts: dict[str, int] = {}
    keep = []
    for i in order:
        counts[cases[i].kind] = counts.get(cases[i].kind, 0) + 1
        if counts[cases[i].kind] <= (PERTURB_PER_KIND if test_half else PERTURB_TRAIN_PER_KIND):
            keep.append(i)
    keep.sort()
    pairs = [(cases[i].claim, bodies[cases[i].cited]) for i in keep]
    return (pairs, [int(cases[i].label) for i in keep], [f"perturb:{i}" for i in keep], [cases[i].kind for i in keep],
            [cases[i].source for i in keep], rows.X[keep])


def _summac_pairs(start: int, count: int) -> tuple[list, list, list, list, list]:
    pairs, y, groups, kinds = [], [], [], []
    for name in ("factcc", "xsumfaith", "summeval", "polytope"):
        items = list(json.loads((shared_data_dir() / "summac" / f"{name}.json").read_text()).values())[start:start + count]
        pairs += [(it["claim"], split_sentences(it["document"])[:80] or [it["document"][:2000]]) for it in items]
        y += [int(str(it["label"]) == "1") for it in items]
        groups += [f"{name}:{start + i}" for i in range(len(items))]
        kinds += [name] * len(items)
    return pairs, y, groups, kinds, groups


def _pairs(name: str, embedder, corpus_sentences):
    """(pairs, labels, row groups, kinds, cross-validation groups, writers or None, feature rows or None) of one
    named set; only hand-written claim sets record who wrote each row."""
    if name.startswith("claims-"):
        return *_hand_pairs(name.split("-", 1)[1], corpus_sentences), None
    if name.startswith("wice-"):
        pairs, y, groups, kinds, folds = _wice_pairs(name)
        return pairs, y, groups, kinds, folds, None, None
    if name in ("perturb-test", "perturb-train"):
        pairs, y, groups, kinds, folds, feats = _perturbation_pairs(embedder, test_half=name == "perturb-test")
        return pairs, y, groups, kinds, folds, None, feats
    if name in ("summac", "summac-dev"):
        start, count = (0, SUMMAC_PER_SUBSET) if name == "summac" else (SUMMAC_PER_SUBSET, SUMMAC_DEV_PER_SUBSET)
        pairs, y, groups, kinds, folds = _summac_pairs(start, count)
        return pairs, y, groups, kinds, folds, None, None
    raise ValueError(f"unknown evaluation set '{name}'")


def scored_set(name: str, embedder, corpus_sentences, vec, cache: JudgeCache | None) -> dict:
    """{"y", "groups", "kinds", "folds" (cross-validation groups: a note's claims share one), "writers" (who wrote
    each claim; only for claim sets), "features" (rows of FEATURES), "judge" (Yes-No logits, or None), "hidden" (judge hidden states, or
    None), "claims"}."""
    pairs, y, groups, kinds, folds, writers, feats = _pairs(name, embedder, corpus_sentences)
    if feats is None:
        feats = claim_rows(pairs, y, groups, vec).X
    judge, hidden = None, None
    if cache is not None:
        judge, states, pick = [], [], JudgeEvidence(vec)
        for i, (claim, evidence) in enumerate(pairs):
            logit, state = cache.verdict(claim, pick(claim, evidence))
            judge.append(logit)
            states.append(state)
            if i % 25 == 0:
                print(f"  {name}: judged {i + 1}/{len(pairs)}", file=sys.stderr, flush=True)
        cache.save()
        if states and all(s is not None for s in states):
            hidden = np.stack(states).astype(np.float32)
    out = {"name": name, "y": y, "groups": groups, "kinds": kinds, "folds": folds, "features": np.asarray(feats).tolist(),
           "judge": judge, "hidden": hidden, "claims": [c for c, _ in pairs]}
    return out | ({"writers": writers} if writers is not None else {})


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
