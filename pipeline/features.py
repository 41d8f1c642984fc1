"""The grounding scorer's alignment features: one claim against the note sentences it cites, by name.

`ClaimFeatures` names every feature; the fitted model (ground.GroundingModel, `grounding_model.json`) reads them
as a vector in the record's field order and checks the names it was trained on, so adding a feature means adding
a field (and retraining), never counting positions.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import astuple, dataclass, fields

import numpy as np

from .text import content_words, names, numbers, numbers_at, words

NEGATIONS = frozenset("not no never none nor neither cannot without fails fail failed lacks lack n't isn't aren't wasn't weren't doesn't don't didn't won't".split())
# Pairs of words that reverse a claim's direction; either side may appear in claim or evidence.
OPPOSITES = [
    ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"), ("rise", "fall"),
    ("rises", "falls"), ("rose", "fell"), ("raise", "lower"), ("raises", "lowers"), ("raised", "lowered"),
    ("higher", "lower"), ("more", "less"), ("more", "fewer"), ("improve", "hurt"), ("improves", "hurts"),
    ("improved", "hurt"), ("improves", "degrades"), ("helps", "harms"), ("gain", "loss"), ("larger", "smaller"),
    ("persist", "vanish"), ("persists", "disappears"), ("survive", "removed"),
    ("above", "below"), ("best", "worst"), ("strong", "weak"), ("stronger", "weaker"), ("success", "failure"),
    ("succeeds", "fails"), ("supported", "refuted"), ("true", "false"), ("all", "none"), ("always", "never"),
    ("easy", "hard"), ("easier", "harder"), ("positive", "negative"), ("maximize", "minimize"),
    ("reduces", "increases"), ("reduced", "increased"), ("lowers", "raises"), ("suppressed", "persisted"),
    ("accurate", "inaccurate"), ("calibrated", "miscalibrated"),
]


@dataclass
class Evidence:
    note_id: str
    text: str
    vector: np.ndarray | None = None
    tokens: np.ndarray | None = None  # content word-piece vectors, for token alignment


def token_alignment(claim_tokens: np.ndarray | None, evidence: list[Evidence]) -> tuple[float, float, float]:
    """BERTScore-style recall: each claim word piece's best cosine to any evidence word piece.
    Returns (mean, minimum, share below 0.5); a claim part the evidence never mentions drags these down."""
    pools = [e.tokens for e in evidence if e.tokens is not None and len(e.tokens)]
    if claim_tokens is None or not len(claim_tokens) or not pools:
        return 1.0, 1.0, 0.0
    best = (claim_tokens @ np.vstack(pools).T).max(axis=1)
    return float(best.mean()), float(best.min()), float((best < 0.5).mean())


@dataclass(frozen=True)
class ClaimFeatures:
    """How well the cited evidence covers one claim. Counts are floats too: the model reads one float vector."""

    max_cos: float  # cosine of the claim to its closest evidence sentence
    top2_cos: float  # mean cosine to the two closest
    coverage_best: float  # share of the claim's content words found in the closest sentence
    coverage_all: float  # share found anywhere in the cited evidence
    missing_content: float  # distinct content words found nowhere in it
    number_recall: float  # share of the claim's numbers found (as written or rounded)
    numbers_missing: float
    name_recall: float  # share of the claim's names found
    names_missing: float
    negation_mismatch: float  # difference in negation words against the two closest sentences
    opposite_flip: float  # direction words reversed against them (OPPOSITES)
    bigram_coverage: float  # share of the claim's word pairs found in the evidence
    claim_len: float  # log(1 + content words)
    min_part_cos: float  # the weakest clause's best cosine (see claim_parts)
    min_part_cover: float  # the lowest word coverage of any clause
    verbatim: float  # 1 when the claim is a word-for-word quote of a cited sentence
    negation_close: float  # 1 when the closest sentence is close (cosine >= 0.7) but negated differently
    order_swap: float  # 1 when two numbers or names appear the other way round (see _order_swap)
    token_recall_mean: float  # BERTScore-style word-piece recall (see token_alignment)
    token_recall_min: float
    token_weak_share: float

    def vector(self) -> np.ndarray:
        """The values in FEATURES order: a row of what the fitted model reads."""
        return np.array(astuple(self))


FEATURES = tuple(f.name for f in fields(ClaimFeatures))
NO_EVIDENCE = ClaimFeatures(**dict.fromkeys(FEATURES, 0.0))

_PART_SPLIT = re.compile(r",\s+|;\s+|\s+(?:and|but|while|whereas|although|which|because)\s+")


def claim_parts(claim: str) -> list[str]:
    """Clauses of a claim with at least three content words: each must be supported on its own."""
    parts = [p.strip() for p in _PART_SPLIT.split(claim) if p and len(content_words(p)) >= 3]
    return parts if len(parts) > 1 else []


def _bigrams(tokens: list[str]) -> set[tuple[str, str]]:
    return set(zip(tokens, tokens[1:]))


def _opposite_flip(claim_words: set[str], evidence_words: set[str]) -> float:
    flips = 0
    for a, b in OPPOSITES:
        for x, y in ((a, b), (b, a)):
            if x in claim_words and x not in evidence_words and y in evidence_words and y not in claim_words:
                flips += 1
    return float(flips)


def normalised(text: str) -> str:
    """Lowercase words separated and surrounded by single spaces, so substring tests match whole words."""
    return " " + " ".join(words(text)) + " "


# Words that make the order of two names matter ("A outperformed B"); elsewhere paraphrases reorder names freely.
RELATION_WORDS = frozenset("than beat beats outperformed outperforms outperform over versus vs preferred prefers "
                           "exceeded exceeds surpassed surpasses".split())


def _order_swap(claim: str, sentence: str, similarity: float) -> float:
    """1 when two numbers (evidence similarity >= 0.7; not both `naming_numbers`) of the claim appear in the
    evidence sentence in the opposite order (from 21% to 85% vs from 85% to 21%), or two names (similarity >= 0.9)
    appear the other way round and either a relation word joins them in the claim (A beat B vs B beat A) or
    exchanging them back makes the claim follow the evidence more closely (a swapped copy, not a reordering
    paraphrase)."""
    claim_low, low = claim.lower(), sentence.lower()
    kinds = [([_number_key(n) for n in numbers(claim)], 0.7, False), (names(claim), 0.9, True)]
    naming = naming_numbers(claim)
    for keys, _, related in (k for k in kinds if similarity >= k[1]):
        found = []
        for key in dict.fromkeys(keys):
            pattern = rf"(?<![\w.]){re.escape(key.lower())}(?![\w])"
            in_claim, in_evidence = re.search(pattern, claim_low), re.search(pattern, low)
            if in_claim and in_evidence:
                found.append((in_claim.start(), in_evidence.start(), key.lower()))
        found.sort()
        for (c1, e1, k1), (c2, e2, k2) in zip(found, found[1:]):
            if e1 > e2 and not {k1, k2} <= naming and (not related or RELATION_WORDS & set(words(claim_low[c1:c2]))
                            or _unswapping_matches_better(claim_low, low, k1, k2)):
                return 1.0
    return 0.0


def naming_numbers(text: str) -> set[str]:
    """Number keys fixed to a name ("GPT-4", "Llama 2", "AIME 2024", "pass@1"), not quantities: a paraphrase may
    move two of them about freely ("pass@1 on AIME 2024" and "AIME 2024 pass@1")."""
    return {_number_key(written) for written, start in numbers_at(text)
            if not written.endswith(("%", "x")) and _NAME_BEFORE.search(text[max(0, start - 24):start])}


_NAME_BEFORE = re.compile(r"(@|[A-Za-z]-|\b[A-Z][\w.-]*\s)$")  # "pass@", "GPT-", "Llama " just before a number


def _unswapping_matches_better(claim: str, sentence: str, a: str, b: str) -> bool:
    """Whether exchanging names a and b back gives the claim more of the evidence's word pairs: true of a
    swapped copy ("B outperformed A" from "A outperformed B"), not of a paraphrase that merely puts the
    names in another order, whose names keep their own neighbours."""
    evidence = _bigrams(words(sentence))
    back = claim.replace(a, "\u0001").replace(b, a).replace("\u0001", b)
    return len(_bigrams(words(back)) & evidence) > len(_bigrams(words(claim)) & evidence)


def _as_float(key: str) -> float | None:
    try:
        return float(key.replace(",", ""))
    except ValueError:
        return None


def _number_found(key: str, evidence_keys: set[str], bound: str | None = None,
                  same_unit: set[str] | None = None) -> bool:
    """The claim's number is in the evidence as written, or as its rounding: 21 for 20.9, 71 for 71.0, 0.3 for
    0.28 (a paraphrase rounds; a changed number does not land within half a unit of the claim's last digit).
    A hedged number (`hedged_numbers`) stands for a range: "about 150" holds 154, "under 60%" holds 58%,
    "over 90%" holds 94%, each within `HEDGE_TOLERANCE` of the claim's value, on the side the bound says, and
    among the evidence numbers of the same unit (`same_unit`; "over 95%" is not held by "100 roles")."""
    if key in evidence_keys:
        return True
    value = _as_float(key)
    if value is None:
        return False
    decimals = len(key.split(".")[1]) if "." in key else 0
    half_unit = 0.5 * 10 ** -decimals + 1e-9
    if any(v is not None and abs(v - value) <= half_unit for v in (_as_float(e) for e in evidence_keys)):
        return True
    if bound is None:
        return False
    slack = max(HEDGE_TOLERANCE * abs(value), half_unit)
    low = value - slack if bound in ("about", "at most") else value
    high = value + slack if bound in ("about", "at least") else value
    pool = same_unit if same_unit is not None else evidence_keys
    return any(v is not None and low <= v <= high for v in (_as_float(e) for e in pool))


# Words that make the number after them a range: an LLM answer rounds "15.6%" to "about 16%", "58%" to "a bit
# under 60%". Relative slack for such a number (a changed number is usually off by more than a tenth).
HEDGE_TOLERANCE = 0.1
_HEDGES = {"about": ("about", "around", "roughly", "approximately", "nearly", "almost", "some", "circa", "close to",
                     "~"),
           "at most": ("under", "below", "less than", "fewer than", "at most", "up to", "short of"),
           "at least": ("over", "above", "more than", "exceeding", "at least", "upwards of", "beyond")}
_BOUND_OF = {phrase: bound for bound, phrases in _HEDGES.items() for phrase in phrases}
_HEDGE_BEFORE = re.compile(
    r"(?:^|\W)(?:(?:just|a bit|a little|slightly|well|only|barely|still)\s+)?(?P<hedge>"
    + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(_BOUND_OF, key=len, reverse=True))
    + r")\s*\$?$", re.IGNORECASE)


def hedged_numbers(claim: str) -> dict[str, str]:
    """The claim's numbers written as a range ("about 16%", "under 60%"), by number key: "about", "at most" (the
    true value is at or below it) or "at least"."""
    out = {}
    for written, start in numbers_at(claim):
        hedge = _HEDGE_BEFORE.search(claim[max(0, start - 24):start])
        if hedge:
            out[_number_key(written)] = _BOUND_OF[" ".join(hedge.group("hedge").lower().split())]
    return out


def _number_key(n: str) -> str:
    return n.rstrip("%x").rstrip(".") or n


def _unit(n: str) -> str:
    """'%', 'x' or '' for a number as written."""
    return n[-1] if n.endswith(("%", "x")) else ""


def _weakest_part(parts: list[str], part_vectors: list[np.ndarray] | None, vectors: np.ndarray, all_content: set[str],
                  best_cos: float, cover_all: float) -> tuple[str | None, float, float]:
    """(the clause with no close evidence sentence or None, the weakest clause's best cosine, the lowest clause
    coverage); without clauses, the whole claim's cosine and coverage."""
    if not parts or part_vectors is None:
        return None, best_cos, cover_all
    part_cos = [float((vectors @ v).max()) for v in part_vectors]
    part_cover = [sum(w in all_content for w in content_words(p)) / max(len(content_words(p)), 1) for p in parts]
    weakest = int(np.argmin(part_cos))
    return (parts[weakest] if part_cos[weakest] < 0.5 else None), part_cos[weakest], min(part_cover)


def claim_features(claim: str, claim_vector: np.ndarray, evidence: list[Evidence],
                   part_vectors: list[np.ndarray] | None = None,
                   claim_tokens: np.ndarray | None = None) -> tuple[ClaimFeatures, list[int], list[str]]:
    """The features, indices of the best evidence sentences (best first), and unsupported parts.

    `part_vectors` are the vectors of `claim_parts(claim)`, so each clause is checked on its own.
    """
    if not evidence:
        return NO_EVIDENCE, [], ["no cited note to check against"]
    vectors = np.stack([e.vector for e in evidence])
    cos = vectors @ claim_vector
    order = list(np.argsort(-cos))
    best = evidence[order[0]].text
    all_text = " ".join(e.text for e in evidence)
    claim_content = content_words(claim)
    best_content, all_content = set(content_words(best)), set(content_words(all_text))
    missing = [w for w in dict.fromkeys(claim_content) if w not in all_content]
    cover_all = sum(w in all_content for w in claim_content) / max(len(claim_content), 1)
    claim_written = numbers(claim)
    claim_numbers = [_number_key(n) for n in claim_written]
    evidence_numbers, by_unit = set(), defaultdict(set)
    for n in numbers(all_text):
        evidence_numbers.add(_number_key(n))
        by_unit[_unit(n)].add(_number_key(n))
    bounds = hedged_numbers(claim)
    numbers_missing = list(dict.fromkeys(
        key for key, written in zip(claim_numbers, claim_written)
        if not _number_found(key, evidence_numbers, bounds.get(key), by_unit[_unit(written)])))
    claim_names = list(dict.fromkeys(names(claim)))
    evidence_lower = all_text.lower()
    names_missing = [n for n in claim_names if n not in evidence_lower]
    claim_words, best_words = set(words(claim)), set(words(" ".join(evidence[i].text for i in order[:2])))
    negation_mismatch = abs(len(claim_words & NEGATIONS) - len(best_words & NEGATIONS)) if claim_words & NEGATIONS or best_words & NEGATIONS else 0
    claim_bigrams = _bigrams(words(claim))
    weakest_part, min_part_cos, min_part_cover = _weakest_part(claim_parts(claim), part_vectors, vectors, all_content,
                                                               float(cos[order[0]]), cover_all)
    claim_norm = normalised(claim)
    recall_mean, recall_min, weak_share = token_alignment(claim_tokens, evidence)
    found = ClaimFeatures(
        max_cos=float(cos[order[0]]),
        top2_cos=float(np.mean(cos[order[:2]])) if len(order) > 1 else float(cos[order[0]]),
        coverage_best=sum(w in best_content for w in claim_content) / max(len(claim_content), 1),
        coverage_all=cover_all,
        missing_content=float(len(missing)),
        number_recall=1.0 - len(numbers_missing) / max(len(set(claim_numbers)), 1),
        numbers_missing=float(len(numbers_missing)),
        name_recall=1.0 - len(names_missing) / max(len(claim_names), 1),
        names_missing=float(len(names_missing)),
        negation_mismatch=float(negation_mismatch),
        opposite_flip=_opposite_flip(claim_words, best_words),
        bigram_coverage=len(claim_bigrams & _bigrams(words(all_text))) / max(len(claim_bigrams), 1),
        claim_len=float(np.log1p(len(claim_content))),
        min_part_cos=min_part_cos,
        min_part_cover=min_part_cover,
        verbatim=float(claim_norm.strip() != "" and any(claim_norm in normalised(e.text) for e in evidence)),
        negation_close=float(cos[order[0]] >= 0.7 and len(claim_words & NEGATIONS) != len(set(words(best)) & NEGATIONS)),
        order_swap=max(_order_swap(claim, evidence[i].text, float(cos[i])) for i in order[:3]),
        token_recall_mean=recall_mean,
        token_recall_min=recall_min,
        token_weak_share=weak_share,
    )
    flags = {"negation differs from the evidence": bool(found.negation_mismatch or found.negation_close),
             "roles or values appear swapped relative to the evidence": bool(found.order_swap),
             "direction or outcome reversed relative to the evidence": bool(found.opposite_flip)}
    return found, [int(i) for i in order], _unsupported(numbers_missing, names_missing, flags, weakest_part, missing, claim_names)


def _unsupported(numbers_missing: list[str], names_missing: list[str], flags: dict[str, bool],
                 weakest_part: str | None, missing_words: list[str], claim_names: list[str]) -> list[str]:
    """What a reader should check, most specific first: numbers and names absent from the evidence, the
    flagged contradictions, a clause with no match, then up to five other words the evidence lacks."""
    out = [f"number {n}" for n in numbers_missing] + [f"name '{n}'" for n in names_missing]
    out += [reason for reason, raised in flags.items() if raised]
    if weakest_part:
        out.append(f"claim part not found in the evidence: '{weakest_part}'")
    named = {n.lower() for n in claim_names}  # a name is checked as a name, not again as a word
    return out + [f"word '{w}'" for w in missing_words[:5] if w not in named and _number_key(w) not in numbers_missing]
