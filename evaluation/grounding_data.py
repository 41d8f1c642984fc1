"""Labelled data for the grounding scorer: WiCE, SummaC and corpus perturbations, as feature rows."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.embed import EmbeddingCache
from pipeline.features import FEATURES, Evidence, claim_features, claim_parts
from pipeline.ground import GroundingScorer
from pipeline.notes import load_corpus
from .perturb import make_cases
from pipeline.text import split_sentences

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@dataclass
class Rows:
    X: np.ndarray
    y: np.ndarray
    group: list[str]  # claim id (WiCE), subset (SummaC) or perturbation kind


def shared_data_dir() -> Path:
    for candidate in (Path.cwd().parent / "shared" / "data", SHARED):
        if (candidate / "wice").is_dir():
            return candidate
    raise FileNotFoundError("../shared/data (WiCE and SummaC) not found beside the checkout")


def claim_rows(pairs: list[tuple[str, list[str]]], labels: list[int], groups: list[str], vec: EmbeddingCache) -> Rows:
    """Features for (claim, evidence sentences) pairs."""
    vec([c for c, _ in pairs] + [p for c, _ in pairs for p in claim_parts(c)] + [e for _, ev in pairs for e in ev])
    vec.tokens([c for c, _ in pairs] + [e for _, ev in pairs for e in ev])
    X = []
    for claim, ev in pairs:
        evidence = [Evidence("doc", t, v, k) for t, v, k in zip(ev, vec(ev), vec.tokens(ev))]
        X.append(claim_features(claim, vec([claim])[0], evidence, vec(claim_parts(claim)), vec.tokens([claim])[0])[0].vector())
    return Rows(np.array(X), np.array(labels), groups)


def wice_rows(split: str, vec: EmbeddingCache) -> Rows:
    rows = [json.loads(l) for l in (shared_data_dir() / "wice" / f"{split}.jsonl").read_text().splitlines() if l.strip()]
    pairs = [(r["claim"], [e for e in r["evidence"] if e.strip()] or [""]) for r in rows]
    return claim_rows(pairs, [int(r["label"] == "supported") for r in rows], [r["meta"]["id"] for r in rows], vec)


def by_claim(rows: Rows, p: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """WiCE scores a claim by the maximum over its evidence chunks; its label is supported if any chunk is."""
    best, label = defaultdict(float), defaultdict(int)
    for g, pi, yi in zip(rows.group, p, rows.y):
        best[g], label[g] = max(best[g], float(pi)), max(label[g], int(yi))
    ids = list(best)
    return ids, np.array([best[i] for i in ids]), np.array([label[i] for i in ids])


def summac_rows(name: str, vec: EmbeddingCache, limit: int | None = None) -> Rows:
    data = json.loads((shared_data_dir() / "summac" / f"{name}.json").read_text())
    items = list(data.values())[:limit]
    pairs = [(it["claim"], split_sentences(it["document"])[:80] or [it["document"][:2000]]) for it in items]
    return claim_rows(pairs, [int(str(it["label"]) == "1") for it in items], [name] * len(items), vec)


def corpus_rows(corpus_dir: Path, embedder, test_half: bool, seed: int = 0) -> tuple[Rows, list]:
    """Perturbation cases from one half of the notes, scored against body sentences only (no summary)."""
    notes = load_corpus(corpus_dir).notes
    vec = EmbeddingCache(embedder, limit=None)
    note_vecs = dict(zip([n.id for n in notes], vec([f"{n.title} {n.summary}" for n in notes])))

    def neighbour(note_id: str) -> str:
        v = note_vecs[note_id]
        return max((n for n in note_vecs if n != note_id), key=lambda n: float(note_vecs[n] @ v))

    bodies = {n.id: n.sentences for n in notes}
    scorer = GroundingScorer(embedder, lambda nid: [(t, v) for t, v in zip(bodies[nid], vec(bodies[nid]))] if nid in bodies else None)
    cases = make_cases(notes, test_half, seed, neighbour)
    scores = scorer.score([(c.claim, [c.cited]) for c in cases], fast_quotes=False)
    X = np.array([[s.features[f] for f in FEATURES] for s in scores])
    return Rows(X, np.array([c.label for c in cases]), [c.kind for c in cases]), cases
