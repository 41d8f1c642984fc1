"""Retrieval quality on labelled questions: recall@k and mean reciprocal rank."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabelledQuestion:
    question: str
    ids: tuple[str, ...]


def load_questions(path: Path) -> list[LabelledQuestion]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            record = json.loads(line)
            if not record.get("question") or not record.get("ids"):
                raise ValueError(f"{path}:{n}: needs 'question' and a non-empty 'ids' list")
            rows.append(LabelledQuestion(record["question"], tuple(record["ids"])))
    return rows


def retrieval_metrics(ranked: list[list[str]], questions: list[LabelledQuestion]) -> dict:
    """recall@k: a question counts if any answering note is in the top k. MRR: mean of 1/first rank."""
    r1 = r5 = rr = 0.0
    for ids, q in zip(ranked, questions):
        ranks = [ids.index(i) + 1 for i in q.ids if i in ids]
        first = min(ranks) if ranks else None
        r1 += first == 1
        r5 += first is not None and first <= 5
        rr += 1.0 / first if first else 0.0
    n = max(len(questions), 1)
    return {"recall@1": round(r1 / n, 4), "recall@5": round(r5 / n, 4), "mrr": round(rr / n, 4)}


def evaluate_search(search, questions: list[LabelledQuestion], depth: int = 20) -> dict:
    """The three rankings side by side: BM25 alone, dense alone, and the fused hybrid."""
    out = {}
    for name, fn in (("bm25", search.search_bm25), ("dense", search.search_dense), ("hybrid", search.search)):
        ranked = [[h.id for h in fn(q.question, depth)] for q in questions]
        out[name] = retrieval_metrics(ranked, questions)
    return out
