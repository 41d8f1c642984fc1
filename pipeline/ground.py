"""The grounding scorer: does each answer sentence say only what its cited notes support?

Each (sentence, cited notes) pair becomes a small vector of alignment features: how close the
best evidence sentence is, how much of the sentence's content, numbers and names the evidence
covers, and whether negation or direction words disagree with the evidence. A logistic model
over those features (weights in `grounding_model.json`, trained by `make train-grounding`) turns
them into a calibrated support probability.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .embed import EmbeddingCache
from .probe import probe_for
from .text import STOPWORDS, content_words, numbers, sigmoid, split_sentences, words

MODEL_FILE = Path(__file__).with_name("grounding_model.json")
COMBINATION_FILE = Path(__file__).with_name("judge_combination.json")
JUDGE_MODES = ("auto", "features", "llm")
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
FEATURES = ("max_cos", "top2_cos", "coverage_best", "coverage_all", "missing_content", "number_recall",
            "numbers_missing", "name_recall", "names_missing", "negation_mismatch", "opposite_flip",
            "bigram_coverage", "claim_len", "min_part_cos", "min_part_cover",
            "verbatim", "negation_close", "order_swap", "token_recall_mean", "token_recall_min", "token_weak_share")


# The logistic model sees every feature but `verbatim`, which is a rule, not evidence to weigh.
MODEL_FEATURES = tuple(f for f in FEATURES if f != "verbatim")
_MODEL_COLUMNS = [FEATURES.index(f) for f in MODEL_FEATURES]
CONTRADICTION_CAP = 0.2  # most support left to a sentence whose number, negation, order or direction clashes
VERBATIM_SUPPORT = 0.98  # an exact quote of a cited note: supported by definition, short of certainty


JUDGE_EVIDENCE = 3  # evidence sentences the judge reads: ~170 prompt tokens, as accurate as the whole note


def judge_evidence(claim_vector: np.ndarray, texts: list[str], vectors) -> list[str]:
    """The JUDGE_EVIDENCE sentences closest to the claim, in their original order (so a sentence that
    continues another still follows it)."""
    if len(texts) <= JUDGE_EVIDENCE:
        return list(texts)
    cos = np.stack(list(vectors)) @ claim_vector
    keep = sorted(np.argsort(-cos)[:JUDGE_EVIDENCE])
    return [texts[i] for i in keep]


def apply_checks(p: float, feats: np.ndarray) -> float:
    """Deterministic checks on top of the model: an exact quote of a cited note is supported;
    a sentence whose numbers are absent from its notes, or whose negation, direction or order of
    roles clashes with the closest evidence, is not."""
    f = dict(zip(FEATURES, feats))
    if f["verbatim"]:
        return VERBATIM_SUPPORT
    if f["numbers_missing"] > 0 or f["negation_close"] or f["order_swap"] or f["opposite_flip"] > 0:
        return min(p, CONTRADICTION_CAP)
    return p


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


@dataclass
class GroundingScore:
    """Support for one sentence given the notes it cites."""

    support: float
    supported: bool
    evidence: list[dict] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    decided_by: str = "features"  # quote | features | judge: which stage set the support
    judge_support: float | None = None  # the judge's own P(supported), before combining
    probe_support: float | None = None  # the probe's P(supported) from the judge's hidden state, before combining
    threshold: float = 0.5  # the line between supported and not for the stage that decided
    clashes_with: dict | None = None  # for a flagged sentence: the evidence sentence closest to it, to compare by eye

    @property
    def verdict(self) -> str:
        """The decision in words, with how far the support sits from the line."""
        margin = abs(self.support - self.threshold)
        word = "supported" if self.supported else "not supported"
        return word if margin >= 0.15 else f"borderline, {word}"


COMBINATION_INPUTS = ("feature_logit", "judge_logit", "probe_logit")


@dataclass(frozen=True)
class JudgeCombination:
    """Logistic regression over named inputs: the logit of the feature model's support (its deterministic checks
    included), the judge's Yes-No logit and, for a local judge with a fitted probe, the probe's logit. Fitted on
    development data only (`make train-grounding`): one calibrated support from every stage.
    `short_circuit`: whether sentences that `decided_by_features` settles skip the judge (chosen by
    cross-validation, like the weights)."""

    inputs: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    trained_on: str
    short_circuit: bool = True

    def probability(self, values: dict[str, float]) -> float:
        z = self.bias + sum(w * float(values[name]) for name, w in zip(self.inputs, self.weights))
        return sigmoid(z)

    def to_json(self) -> dict:
        return {"inputs": list(self.inputs), "weights": list(self.weights), "bias": self.bias, "threshold": self.threshold,
                "short_circuit": self.short_circuit, "trained_on": self.trained_on}

    @classmethod
    def from_json(cls, data: dict) -> "JudgeCombination":
        inputs = tuple(data["inputs"])
        unknown = [i for i in inputs if i not in COMBINATION_INPUTS]
        if unknown or len(inputs) != len(data["weights"]):
            raise ValueError(f"a judge combination with inputs {list(inputs)} and {len(data['weights'])} weights; expected "
                             f"inputs among {list(COMBINATION_INPUTS)}, one weight each: run `make train-grounding`")
        return cls(inputs, tuple(float(w) for w in data["weights"]), float(data["bias"]), float(data["threshold"]),
                   data.get("trained_on", ""), bool(data.get("short_circuit", True)))


def feature_logit(p: float) -> float:
    """The feature model's support as a logit (clipped at 1e-4 so that a capped or certain row stays finite)."""
    p = min(max(float(p), 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


@dataclass(frozen=True)
class JudgeCombinations:
    """The fitted combinations: with the probe (a local judge whose hidden state it reads) and without (a server)."""

    with_probe: JudgeCombination | None
    logit_only: JudgeCombination

    def pick(self, has_probe: bool) -> JudgeCombination:
        return self.with_probe if has_probe and self.with_probe is not None else self.logit_only


def load_combination(path: Path = COMBINATION_FILE) -> JudgeCombinations | None:
    """The fitted combinations, or None before `make train-grounding` has fitted them."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        probe = data.get("with_probe")
        return JudgeCombinations(JudgeCombination.from_json(probe) if probe else None,
                                 JudgeCombination.from_json(data["logit_only"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a judge combination file ({exc}); run `make train-grounding`") from exc


UNRELATED_COSINE = 0.3  # below this, no cited sentence is about what the claim says


def decided_by_features(feats: np.ndarray) -> bool:
    """Auto mode trusts the features alone where they are certain: an exact quote; a number the evidence does
    not hold even rounded; numbers in swapped order; a direction word reversed; or no cited sentence on the
    claim's subject at all. Everything else, negation included (paraphrases move "not" around), goes to the
    judge."""
    f = dict(zip(FEATURES, feats))
    return bool(f["verbatim"] or f["numbers_missing"] > 0 or f["order_swap"] or f["opposite_flip"] > 0
                or f["max_cos"] < UNRELATED_COSINE)


@dataclass(frozen=True)
class GroundingModel:
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    threshold: float
    trained_on: str

    def probability(self, feats: np.ndarray) -> np.ndarray:
        """Model probability followed by the deterministic checks, for rows of `FEATURES`."""
        z = ((feats[:, _MODEL_COLUMNS] - self.mean) / self.scale) @ self.weights + self.bias
        p = 1.0 / (1.0 + np.exp(-z))
        return np.array([apply_checks(pi, row) for pi, row in zip(p, feats)])

    def to_json(self) -> dict:
        return {"features": list(MODEL_FEATURES), "weights": self.weights.tolist(), "bias": self.bias,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(), "threshold": self.threshold,
                "trained_on": self.trained_on}


@lru_cache(maxsize=4)
def load_grounding_model(path: Path = MODEL_FILE) -> GroundingModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("features") != list(MODEL_FEATURES):
        raise RuntimeError(f"{path} was trained on features {data.get('features')}, not {list(MODEL_FEATURES)}; run `make train-grounding`")
    return GroundingModel(np.array(data["weights"]), float(data["bias"]), np.array(data["mean"]),
                          np.array(data["scale"]), float(data["threshold"]), data.get("trained_on", ""))


def _names(text: str) -> list[str]:
    """Capitalised words not at a sentence start, acronyms and tokens with digits: the 'names' of a claim."""
    found = []
    for sentence in split_sentences(text) or [text]:
        tokens = re.findall(r"[A-Za-z][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Z]", sentence)
        for i, tok in enumerate(tokens):
            has_upper_inside = any(c.isupper() for c in tok[1:])
            if (i > 0 and tok[0].isupper()) or has_upper_inside or any(c.isdigit() for c in tok):
                if tok.lower() not in STOPWORDS:
                    found.append(tok.lower())
    return found


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


def _normalise(text: str) -> str:
    """Lowercase words separated and surrounded by single spaces, so substring tests match whole words."""
    return " " + " ".join(words(text)) + " "


# Words that make the order of two names matter ("A outperformed B"); elsewhere paraphrases reorder names freely.
RELATION_WORDS = frozenset("than beat beats outperformed outperforms outperform over versus vs preferred prefers "
                           "exceeded exceeds surpassed surpasses".split())


def _order_swap(claim: str, sentence: str, similarity: float) -> float:
    """1 when two numbers (evidence similarity >= 0.7) of the claim appear in the evidence sentence in the
    opposite order (from 21% to 85% vs from 85% to 21%), or two names (similarity >= 0.9) appear the other
    way round and either a relation word joins them in the claim (A beat B vs B beat A) or exchanging them
    back makes the claim follow the evidence more closely (a swapped copy, not a reordering paraphrase)."""
    claim_low, low = claim.lower(), sentence.lower()
    kinds = [([_number_key(n) for n in numbers(claim)], 0.7, False), (_names(claim), 0.9, True)]
    for keys, _, related in (k for k in kinds if similarity >= k[1]):
        found = []
        for key in dict.fromkeys(keys):
            pattern = rf"(?<![\w.]){re.escape(key.lower())}(?![\w])"
            in_claim, in_evidence = re.search(pattern, claim_low), re.search(pattern, low)
            if in_claim and in_evidence:
                found.append((in_claim.start(), in_evidence.start(), key.lower()))
        found.sort()
        for (c1, e1, k1), (c2, e2, k2) in zip(found, found[1:]):
            if e1 > e2 and (not related or RELATION_WORDS & set(words(claim_low[c1:c2]))
                            or _unswapping_matches_better(claim_low, low, k1, k2)):
                return 1.0
    return 0.0


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


def _number_found(key: str, evidence_keys: set[str]) -> bool:
    """The claim's number is in the evidence as written, or as its rounding: 21 for 20.9, 85 for 84.5, 0.3 for
    0.28 (a paraphrase rounds; a changed number does not land within half a unit of the claim's last digit)."""
    if key in evidence_keys:
        return True
    value = _as_float(key)
    if value is None:
        return False
    decimals = len(key.split(".")[1]) if "." in key else 0
    half_unit = 0.5 * 10 ** -decimals
    return any(v is not None and v != value and abs(v - value) <= half_unit + 1e-9
               for v in (_as_float(e) for e in evidence_keys))


def _number_key(n: str) -> str:
    return n.rstrip("%x").rstrip(".") or n


def features(claim: str, claim_vector: np.ndarray, evidence: list[Evidence],
             part_vectors: list[np.ndarray] | None = None,
             claim_tokens: np.ndarray | None = None) -> tuple[np.ndarray, list[int], list[str]]:
    """Feature vector, indices of the best evidence sentences (best first), and unsupported parts.

    `part_vectors` are the vectors of `claim_parts(claim)`, so each clause is checked on its own.
    """
    if not evidence:
        return np.zeros(len(FEATURES)), [], ["no cited note to check against"]
    vectors = np.stack([e.vector for e in evidence])
    cos = vectors @ claim_vector
    order = list(np.argsort(-cos))
    best = evidence[order[0]].text
    all_text = " ".join(e.text for e in evidence)
    claim_content = content_words(claim)
    best_content, all_content = set(content_words(best)), set(content_words(all_text))
    missing = [w for w in dict.fromkeys(claim_content) if w not in all_content]
    cover_best = sum(w in best_content for w in claim_content) / max(len(claim_content), 1)
    cover_all = sum(w in all_content for w in claim_content) / max(len(claim_content), 1)
    claim_numbers = [_number_key(n) for n in numbers(claim)]
    evidence_numbers = {_number_key(n) for n in numbers(all_text)}
    numbers_missing = [n for n in dict.fromkeys(claim_numbers) if not _number_found(n, evidence_numbers)]
    claim_names = list(dict.fromkeys(_names(claim)))
    evidence_lower = all_text.lower()
    names_missing = [n for n in claim_names if n not in evidence_lower]
    claim_words, best_words = set(words(claim)), set(words(" ".join(evidence[i].text for i in order[:2])))
    negation_mismatch = abs(len(claim_words & NEGATIONS) - len(best_words & NEGATIONS)) if claim_words & NEGATIONS or best_words & NEGATIONS else 0
    top2 = float(np.mean(cos[order[:2]])) if len(order) > 1 else float(cos[order[0]])
    all_bigrams = _bigrams(words(all_text))
    claim_bigrams = _bigrams(words(claim))
    bigram_cov = len(claim_bigrams & all_bigrams) / max(len(claim_bigrams), 1)
    parts = claim_parts(claim)
    weakest_part, min_part_cos, min_part_cover = None, float(cos[order[0]]), cover_all
    if parts and part_vectors is not None:
        part_cos = [float((vectors @ v).max()) for v in part_vectors]
        part_cover = [sum(w in all_content for w in content_words(p)) / max(len(content_words(p)), 1) for p in parts]
        weakest = int(np.argmin(part_cos))
        min_part_cos, min_part_cover = part_cos[weakest], min(part_cover)
        if min_part_cos < 0.5:
            weakest_part = parts[weakest]
    claim_norm = _normalise(claim)
    verbatim = float(claim_norm.strip() != "" and any(claim_norm in _normalise(e.text) for e in evidence))
    best_neg = set(words(best)) & NEGATIONS
    negation_close = float(cos[order[0]] >= 0.7 and len(claim_words & NEGATIONS) != len(best_neg))
    order_swap = max(_order_swap(claim, evidence[i].text, float(cos[i])) for i in order[:3])
    feats = np.array([
        float(cos[order[0]]), top2, cover_best, cover_all, float(len(missing)),
        1.0 - len(numbers_missing) / max(len(set(claim_numbers)), 1), float(len(numbers_missing)),
        1.0 - len(names_missing) / max(len(claim_names), 1), float(len(names_missing)),
        float(negation_mismatch), _opposite_flip(claim_words, best_words), bigram_cov,
        float(np.log1p(len(claim_content))), min_part_cos, min_part_cover,
        verbatim, negation_close, order_swap, *token_alignment(claim_tokens, evidence),
    ])
    flags = {"negation differs from the evidence": bool(negation_mismatch or negation_close),
             "roles or values appear swapped relative to the evidence": bool(order_swap),
             "direction or outcome reversed relative to the evidence": bool(feats[FEATURES.index("opposite_flip")])}
    return feats, [int(i) for i in order], _unsupported(numbers_missing, names_missing, flags, weakest_part, missing, claim_names)


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


class GroundingScorer:
    """Scores sentences against note evidence. Needs only an embedder and a way to look notes up."""

    def __init__(self, embedder, note_sentences, model: GroundingModel | None = None, judge=None,
                 mode: str = "features", combination: JudgeCombinations | None = None, probe=None):
        """`note_sentences(note_id) -> list[(text, vector|None)]` or None for an unknown id.
        `judge` (pipeline.judge.Judge) with `mode` auto or llm reads what the features cannot (see JUDGE_MODES)."""
        if mode not in JUDGE_MODES:
            raise ValueError(f"judge mode '{mode}' is not one of {', '.join(JUDGE_MODES)}")
        self.embedder = embedder
        self.note_sentences = note_sentences
        self.model = model or load_grounding_model()
        self.judge, self.mode = judge, mode
        self.combination = combination or load_combination()
        # A local judge's hidden state is read by the probe fitted for that exact model (pipeline/probe.py).
        self.probe, self.probe_note = (probe, "probe given") if probe is not None else probe_for(judge)
        # Sentences recur across ALCE's sub-checks and across questions: embed each once.
        self._embed = EmbeddingCache(embedder)
        self._token_vectors = self._embed.tokens

    def _quoted(self, claim: str, note_ids: list[str]) -> dict | None:
        """The cited note sentence that contains the claim word for word, if any."""
        target = _normalise(claim)
        if not target.strip():
            return None
        for nid in note_ids:
            for text, _ in self.note_sentences(nid) or []:
                if target in _normalise(text):
                    return {"id": nid, "text": text}
        return None

    def evidence_for(self, note_ids: list[str]) -> list[Evidence]:
        evidence, pending = [], []
        for nid in note_ids:
            for text, vector in self.note_sentences(nid) or []:
                evidence.append(Evidence(nid, text, vector))
                if vector is None:
                    pending.append(evidence[-1])
        if pending:
            for e, v in zip(pending, self._embed([e.text for e in pending])):
                e.vector = v
        for e, t in zip(evidence, self._token_vectors([e.text for e in evidence])):
            e.tokens = t
        return evidence

    def score(self, claims: list[tuple[str, list[str]]], fast_quotes: bool = True, mode: str | None = None) -> list[GroundingScore]:
        """Score many (sentence, cited ids) pairs; the sentences are embedded in one batch.

        With `fast_quotes`, a word-for-word quote of a cited note skips the features (its support is
        fixed by `apply_checks` anyway); training and evaluation turn it off to get every feature.
        `mode` (default: the scorer's) is features, llm (the judge reads every sentence that is not a
        quote) or auto (the judge reads only what `decided_by_features` leaves open)."""
        mode = mode or self.mode
        if mode not in JUDGE_MODES:
            raise ValueError(f"judge mode '{mode}' is not one of {', '.join(JUDGE_MODES)}")
        if not claims:
            return []
        quotes = [self._quoted(claim, cited) if fast_quotes else None for claim, cited in claims]
        rest = [c for c, q in zip(claims, quotes) if q is None]
        vectors = iter(self._embed([c for c, _ in rest]))
        tokens = iter(self._token_vectors([c for c, _ in rest]))
        self._embed([p for c, _ in rest for p in claim_parts(c)])
        out = []
        for (claim, cited), quote in zip(claims, quotes):
            if quote is not None:  # the fast path for quotes, such as every sentence of our own composer
                out.append(GroundingScore(VERBATIM_SUPPORT, True, [quote], [], {"verbatim": 1.0}, "quote"))
                continue
            vector, claim_tokens, claim_parts_ = next(vectors), next(tokens), claim_parts(claim)
            evidence = self.evidence_for(cited)
            feats, order, unsupported = features(claim, vector, evidence, self._embed(claim_parts_), claim_tokens)
            p = float(self.model.probability(feats[None, :])[0]) if evidence else 0.0
            out.append(self._decide(claim, vector, feats, order, unsupported, evidence, p, mode))
        return out


    def _combination(self) -> JudgeCombination | None:
        return self.combination.pick(self.probe is not None) if self.combination is not None else None

    def _decide(self, claim: str, vector: np.ndarray, feats: np.ndarray, order: list[int], unsupported: list[str],
                evidence: list[Evidence], p: float, mode: str) -> GroundingScore:
        """The support of one non-quote sentence: the features' alone, or combined with the judge (and probe)."""
        shown = [{"id": evidence[i].note_id, "text": evidence[i].text} for i in order[:2]]
        threshold, decided_by, judged, probed = self.model.threshold, "features", None, None
        combination = self._combination()
        settled = (combination.short_circuit if combination else True) and decided_by_features(feats)
        if self.judge is not None and evidence and (mode == "llm" or (mode == "auto" and not settled)):
            texts = judge_evidence(vector, [e.text for e in evidence], [e.vector for e in evidence])
            verdict = self.judge.support(claim, texts)
            judged = round(verdict.probability, 4)
            probe_logit = self.probe.logit(verdict.hidden) if self.probe is not None and verdict.hidden is not None else None
            probed = round(sigmoid(probe_logit), 4) if probe_logit is not None else None
            if self.combination is not None:
                combination = self.combination.pick(probe_logit is not None)
                p = combination.probability({"feature_logit": feature_logit(p), "judge_logit": verdict.logit,
                                             "probe_logit": probe_logit if probe_logit is not None else 0.0})
                threshold = combination.threshold
            else:
                p, threshold = verdict.probability, 0.5
            by_text = {e.text: e.note_id for e in evidence}
            shown, decided_by = [{"id": by_text[t], "text": t} for t in texts], "judge"
            if p < threshold and judged < 0.5:
                unsupported = ["the judge read the claim as not supported by this evidence"] + unsupported
        supported = p >= threshold
        closest = {"id": evidence[order[0]].note_id, "text": evidence[order[0]].text} if evidence and not supported else None
        return GroundingScore(round(p, 4), supported, shown, unsupported if not supported else [],
                              dict(zip(FEATURES, feats.round(4).tolist())), decided_by, judged, probed, round(threshold, 4),
                              closest)


def citation_metrics(sentences: list[tuple[str, list[str]]], scorer: GroundingScorer, mode: str | None = None) -> dict:
    """ALCE citation recall and precision (Gao et al. 2023, "Enabling LLMs to Generate Text with Citations").

    Recall: share of sentences that have citations and are supported by all of them together.
    Precision: share of citations that are not excess; a citation is excess when it does not
    support the sentence alone and the remaining citations still support it.
    """
    joint = scorer.score(sentences, mode=mode)
    recall_hits = [bool(c) and g.supported for (_, c), g in zip(sentences, joint)]
    singles = [(text, [cid]) for text, cited in sentences if len(cited) > 1 for cid in cited]
    single_scores = iter(scorer.score(singles, mode=mode))
    total, excess = 0, 0
    for (text, cited), g in zip(sentences, joint):
        alone = {cid: (next(single_scores).supported if len(cited) > 1 else g.supported) for cid in cited}
        for cid in cited:
            total += 1
            if not alone[cid] and len(cited) > 1:
                rest = [c for c in cited if c != cid]
                if scorer.score([(text, rest)], mode=mode)[0].supported:
                    excess += 1
            elif not alone[cid] and not g.supported:
                excess += 1
    return {
        "joint": joint,
        "citation_recall": round(sum(recall_hits) / len(sentences), 4) if sentences else 0.0,
        "citation_precision": round((total - excess) / total, 4) if total else 0.0,
    }
