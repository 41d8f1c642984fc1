"""The composer's one ranking: every candidate sentence scored by a logistic model over named terms.

score(sentence) = sigmoid(b + sum_i w_i * (x_i - mean_i) / scale_i), with the terms below. The weights are
fitted on the tune split only (`python -m evaluation.fit_composer`: logistic regression on sentences
labelled by whether they hold a key fact of the question, the notes' own answer) and stored beside this
module in `composer_weights.json`, with the cut-offs fitted on the same split: which sentences make the
brief, which stay as evidence, and below which top score no sentence answers the question. Nothing here
is set by hand; a term the ablation shows does not earn its place is removed from TERMS.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .text import sigmoid

WEIGHTS = Path(__file__).with_name("composer_weights.json")

# Each term, in the order of a feature row; the docstring of `sentence_terms` says how each is computed.
TERMS = ("cosine", "words", "title", "note_words", "rank", "summary", "position", "after", "gap", "note_gap",
         "source", "part", "number", "lead_note", "in_note", "title_gap")

# A question asking for a quantity ("how much", "what share"...) is answered by a sentence with a number.
_QUANTITY = re.compile(r"\b(how (much|many|often|large|big|far|long|fast|strong)|what (share|fraction|percentage|"
                       r"proportion|rate|size|number)|by how|percent|per ?cent|rate|ratio|how did .* (rise|fall|change))\b",
                       re.IGNORECASE)
_DIGIT = re.compile(r"\d")


def asks_quantity(question: str) -> bool:
    return bool(_QUANTITY.search(question))


def sentence_terms(cosine: np.ndarray, words: np.ndarray, note: dict, question: dict) -> np.ndarray:
    """The feature rows of one note's passages (in the note's order), one column per name in TERMS:

    cosine      the passage's vector . the question's vector
    words       idf-weighted share of the question's topic words the passage uses
    title       cosine of the note's title question to the question
    note_words  idf-weighted share of the question's topic words the note uses anywhere
    rank        1 / (1 + the note's retrieval rank)
    summary     1 for a summary sentence (the note's own answer to its title question)
    position    1 / (1 + the passage's position in the note, summary first)
    after       relevance (cosine + words) of the sentence before it in the note: a finding's reason,
                size or name is often the next sentence
    gap         its relevance less the best relevance in its note
    note_gap    its note's best relevance less the best of any note
    source      share of the question's names (papers, authors) found in the note's sources
    part        best relevance to any separate ask of a compound question less that ask's best anywhere
    number      1 if the question asks for a quantity and the passage states a number
    lead_note   1 if its note holds the most relevant passage of all
    in_note     1 / (1 + its rank by relevance within its note)
    title_gap   its note's title cosine less the best title cosine of any candidate note
    """
    rel = cosine + words
    n = len(rel)
    after = np.concatenate([[0.0], rel[:-1]]) if n else rel
    after = np.where(note["in_summary"], 0.0, after)  # a summary sentence follows nothing in the body
    after[note["first_body"]:note["first_body"] + 1] = 0.0
    best = rel.max() if n else 0.0
    columns = {
        "cosine": cosine, "words": words, "title": np.full(n, note["title"]), "note_words": np.full(n, note["coverage"]),
        "rank": np.full(n, 1.0 / (1 + note["rank"])), "summary": note["in_summary"].astype(float),
        "position": 1.0 / (1 + np.arange(n)), "after": after, "gap": rel - best,
        "note_gap": np.full(n, best - question["best"]), "source": np.full(n, note["source"]),
        "part": note["part"], "number": note["has_number"].astype(float) * float(question["quantity"]),
        "lead_note": np.full(n, float(best >= question["best"])), "in_note": 1.0 / (1 + np.argsort(np.argsort(-rel, kind="stable"))),
        "title_gap": np.full(n, note["title"] - question["best_title"]),
    }
    return np.stack([columns[t] for t in TERMS], axis=1) if n else np.zeros((0, len(TERMS)))


def relevance(rows: np.ndarray) -> np.ndarray:
    """cosine + words of each feature row: how closely a sentence speaks to the question, in its own words."""
    return rows[:, TERMS.index("cosine")] + rows[:, TERMS.index("words")] if len(rows) else np.zeros(0)


def has_number(text: str) -> bool:
    return bool(_DIGIT.search(text))


@dataclass(frozen=True)
class Ranker:
    """A fitted logistic model over `terms` and its cut-offs (all probabilities of holding a key fact)."""

    terms: tuple[str, ...]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    brief_cut: float  # a sentence after the first joins the brief at this score or above
    evidence_cut: float  # other sentences stay as evidence at this score or above
    answer_floor: float  # a best score below this: no sentence answers the question
    also_cut: float = 9.0  # relevance (cosine + words) at which another note's best sentence joins as "also relevant"
    trained_on: str = ""

    def score(self, rows: np.ndarray) -> np.ndarray:
        """sigmoid(b + w . (x - mean) / scale) for each row of TERMS columns (unused terms are ignored)."""
        if not len(rows):
            return np.zeros(0)
        x = rows[:, [TERMS.index(t) for t in self.terms]]
        return np.array([sigmoid(float(z)) for z in self.bias + ((x - self.mean) / self.scale) @ self.weights])

    def to_json(self) -> dict:
        return {"terms": list(self.terms), "weights": self.weights.round(6).tolist(), "bias": round(self.bias, 6),
                "mean": self.mean.round(6).tolist(), "scale": self.scale.round(6).tolist(),
                "brief_cut": round(self.brief_cut, 4), "evidence_cut": round(self.evidence_cut, 4),
                "answer_floor": round(self.answer_floor, 4), "also_cut": round(self.also_cut, 4), "trained_on": self.trained_on}


def load_ranker(path: Path = WEIGHTS) -> Ranker:
    """The fitted ranking; a missing or malformed file says how to fit it."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        unknown = [t for t in d["terms"] if t not in TERMS]
        if unknown:
            raise ValueError(f"unknown terms {unknown}; known: {', '.join(TERMS)}")
        return Ranker(tuple(d["terms"]), np.array(d["weights"], dtype=float), float(d["bias"]), np.array(d["mean"], dtype=float),
                      np.array(d["scale"], dtype=float), float(d["brief_cut"]), float(d["evidence_cut"]),
                      float(d["answer_floor"]), float(d["also_cut"]), d.get("trained_on", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"{path}: cannot read the composer's fitted ranking ({exc}); "
                           "refit it with `python -m evaluation.fit_composer`") from exc
