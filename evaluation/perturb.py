"""Rule-based perturbations of note sentences (in the spirit of FactCC, Kryscinski et al. 2020).

Each kind turns a true, correctly cited sentence into one the grounding scorer must reject; the
paraphrase kinds keep it true. Used to train the scorer on half the notes and to test it on the
other half (split by a hash of the note id, so no note is in both).
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from pipeline.text import split_sentences

NEGATIVE_KINDS = ("number", "swap", "direction", "negation", "contradiction", "invented", "wrong_note")
POSITIVE_KINDS = ("verbatim", "paraphrase", "clause")
_AUX = re.compile(r"\b(is|are|was|were|can|could|does|do|did|will|would|has|have|had|should|may|might)\b(?! not)")
_NEGATED = re.compile(r"\b(is|are|was|were|can|could|does|do|did|will|would|has|have|had|should) not\b")
_NUM = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(\s?%|x\b)?")
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b([A-Z][a-zA-Z0-9\-]+(?:\s[A-Z][a-zA-Z0-9\-]+)*)")
# Words that reverse a sentence's direction, written for the suite and kept apart from the scorer's own list
# (features.OPPOSITES; a test checks that no pair is shared), so the suite does not measure that list against itself.
REVERSALS = [
    ("better", "worse"), ("best", "poorest"), ("most", "least"), ("many", "few"), ("large", "small"),
    ("high", "low"), ("grew", "shrank"), ("grows", "shrinks"), ("boosted", "cut"), ("boosts", "cuts"),
    ("improved", "worsened"), ("improves", "worsens"), ("improve", "worsen"), ("outperformed", "trailed"),
    ("outperforms", "trails"), ("robust", "fragile"), ("stable", "unstable"), ("reliable", "unreliable"),
    ("safer", "riskier"), ("increase", "drop"), ("increases", "drops"), ("reduce", "amplify"), ("reduces", "amplifies"),
    ("removed", "kept"), ("remove", "keep"), ("before", "after"), ("earlier", "later"), ("first", "last"),
    ("often", "rarely"), ("frequently", "seldom"),
    ("helped", "hindered"), ("preserved", "erased"), ("retained", "lost"), ("matched", "missed"),
]
INVENTED = ("in a 70-billion-parameter model", "on the ImageNet-21k dataset", "in experiments run during 2017",
            "using 512 TPU chips", "on the Pile corpus", "in a study of 13,000 volunteers", "with GPT-2 XL as the base model")


@dataclass(frozen=True)
class Case:
    kind: str
    claim: str
    cited: str  # note id the claim cites
    source: str  # note id it was made from
    label: int  # 1 supported, 0 not


def in_test_half(note_id: str) -> bool:
    return int(hashlib.sha256(note_id.encode()).hexdigest(), 16) % 2 == 1


def change_number(s: str, rng: random.Random) -> str | None:
    matches = list(_NUM.finditer(s))
    if not matches:
        return None
    m = rng.choice(matches)
    value = float(m.group(1))
    new = value * rng.choice([2, 3]) + rng.choice([1, 7]) if value < 1000 else value / 2
    text = f"{new:.{len(m.group(1).split('.')[1]) if '.' in m.group(1) else 0}f}"
    return s[: m.start(1)] + text + s[m.end(1):]


def swap_roles(s: str, rng: random.Random) -> str | None:
    nums = list(dict.fromkeys(m.group(0) for m in _NUM.finditer(s)))
    names = [n for n in dict.fromkeys(m.group(1) for m in _NAME.finditer(s)) if len(n) > 2]
    for pool in (nums, names):
        if len(pool) >= 2:
            a, b = pool[0], pool[1]
            out = s.replace(a, "\u0001").replace(b, a).replace("\u0001", b)
            if out != s:
                return out
    return None


def reverse_direction(s: str, rng: random.Random) -> str | None:
    tokens = s.split(" ")
    options = [(i, b) for i, t in enumerate(tokens) for a, b in REVERSALS + [(y, x) for x, y in REVERSALS]
               if t.lower().strip(",.;:") == a]
    if not options:
        return None
    i, replacement = rng.choice(options)
    tail = tokens[i][len(tokens[i].rstrip(",.;:")):]
    tokens[i] = (replacement.capitalize() if tokens[i][0].isupper() else replacement) + tail
    return " ".join(tokens)


def negate(s: str, rng: random.Random) -> str | None:
    if _NEGATED.search(s):
        return _NEGATED.sub(lambda m: m.group(1), s, count=1)
    if _AUX.search(s):
        return _AUX.sub(lambda m: m.group(1) + " not", s, count=1)
    return None


def invent_detail(s: str, rng: random.Random) -> str | None:
    body = s.rstrip(".!? ")
    return f"{body}, {rng.choice(INVENTED)}."


def drop_clause(s: str) -> str | None:
    head = s.split(", ")[0].rstrip(".")
    return head + "." if head != s.rstrip(".") and len(head.split()) >= 8 else None


def make_cases(notes, test_half: bool, seed: int = 0, neighbour=None) -> list[Case]:
    """Cases from notes in one half. `neighbour(note_id) -> other note id` picks wrong-note citations."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for note in notes:
        if in_test_half(note.id) != test_half:
            continue
        sentences = note.sentences
        for s in sentences:
            cases.append(Case("verbatim", s, note.id, note.id, 1))
            for kind, fn in (("number", change_number), ("swap", swap_roles), ("direction", reverse_direction),
                             ("negation", negate), ("invented", invent_detail)):
                out = fn(s, rng)
                if out and out != s:
                    cases.append(Case(kind, out, note.id, note.id, 0))
            clause = drop_clause(s)
            if clause:
                cases.append(Case("clause", clause, note.id, note.id, 1))
            if neighbour is not None:
                cases.append(Case("wrong_note", s, neighbour(note.id), note.id, 0))
        for s in split_sentences(note.summary):
            cases.append(Case("paraphrase", s, note.id, note.id, 1))
            out = reverse_direction(s, rng) or negate(s, rng)
            if out and out != s:
                cases.append(Case("contradiction", out, note.id, note.id, 0))
    return cases
