"""The hand-written answer-evaluation questions (evaluation/data/answer_eval_*.jsonl) as records, read by both
`evaluation.eval_answers` (measuring) and `evaluation.fit_composer` (fitting on the tune split)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
SPLITS = ("tune", "measure")


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    kind: str  # on_topic | uncovered | partial
    split: str
    ids: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    uncovered: tuple[str, ...] = ()
    subject: str = ""  # an uncovered question in the notes' field: what it asks about


def load_eval_questions(path: Path, default_kind: str) -> list[EvalQuestion]:
    """Read one JSONL file of evaluation questions, naming the line of any malformed record."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            q = EvalQuestion(r["question"], r.get("kind", default_kind), r["split"], tuple(r.get("ids", ())),
                             tuple(r.get("facts", ())), tuple(r.get("uncovered", ())), r.get("subject", ""))
            for pattern in q.facts + q.uncovered:
                re.compile(pattern)
        except (ValueError, KeyError, TypeError, re.error) as exc:
            raise ValueError(f"{path}:{n}: {exc}; each line needs 'question' and 'split' ('tune' or 'measure')") from exc
        if q.split not in SPLITS or q.kind not in ("on_topic", "uncovered", "partial"):
            raise ValueError(f"{path}:{n}: split '{q.split}' / kind '{q.kind}' is not one of {SPLITS} / on_topic, uncovered, partial")
        rows.append(q)
    return rows
