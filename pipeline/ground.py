"""The grounding scorer: does each answer sentence say only what its cited notes support?

Each (sentence, cited notes) pair becomes a small record of alignment features (pipeline/features.py): how
close the best evidence sentence is, how much of the sentence's content, numbers and names the evidence
covers, and whether negation or direction words disagree with the evidence. A logistic model over those
features (weights in `grounding_model.json`, trained by `make train-grounding`) turns them into a calibrated
support probability.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .embed import EmbeddingCache, load_embedder
from .features import FEATURES, Evidence, claim_features, claim_parts, normalised
from .probe import probe_for
from .text import sigmoid

MODEL_FILE = Path(__file__).with_name("grounding_model.json")
COMBINATION_FILE = Path(__file__).with_name("judge_combination.json")
JUDGE_MODES = ("auto", "features", "llm")


# The logistic model sees every feature but `verbatim`, which is a rule, not evidence to weigh.
MODEL_FEATURES = tuple(f for f in FEATURES if f != "verbatim")
_MODEL_COLUMNS = [FEATURES.index(f) for f in MODEL_FEATURES]
CONTRADICTION_CAP = 0.2  # most support left to a sentence whose number, negation, order or direction clashes
VERBATIM_SUPPORT = 0.98  # an exact quote of a cited note: supported by definition, short of certainty


FULL_PRECISION = ("onnx-fp32", "torch")  # embedder kinds whose vectors do not depend on the machine
JUDGE_EVIDENCE = 3  # evidence sentences the judge reads: ~170 prompt tokens, as accurate as the whole note


def judge_evidence(claim_vector: np.ndarray, texts: list[str], vectors) -> list[str]:
    """The JUDGE_EVIDENCE sentences closest to the claim, in their original order (so a sentence that
    continues another still follows it)."""
    if len(texts) <= JUDGE_EVIDENCE:
        return list(texts)
    cos = np.stack(list(vectors)) @ claim_vector
    keep = sorted(np.argsort(-cos)[:JUDGE_EVIDENCE])
    return [texts[i] for i in keep]


class JudgeEvidence:
    """Picks the judge's evidence with full-precision vectors (the onnx-fp32 embedder, equal to the torch reference
    to ~1e-6). int8 vectors are rounded by the activations' scales, and the rounding differs from one machine's
    export to the next: on our 1,267 tune claims int8 chose another top 3 than fp32 for 186, and two machines' int8
    exports disagreed on about 200, which moved a measured AUROC by 0.02. `vectors` is the caller's cache: reused
    when its embedder is already full precision, else the fp32 embedder is loaded when a judge first runs."""

    def __init__(self, vectors: EmbeddingCache):
        self._cache = vectors if getattr(vectors.embedder, "kind", None) in FULL_PRECISION else None

    def __call__(self, claim: str, texts: list[str]) -> list[str]:
        if len(texts) <= JUDGE_EVIDENCE:
            return list(texts)
        if self._cache is None:
            self._cache = EmbeddingCache(load_embedder(kind="onnx-fp32"))
        return judge_evidence(self._cache([claim])[0], texts, self._cache(texts))


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


GATED_FEATURES = tuple(f"domain_x_{name}" for name in FEATURES)
GATED_INPUTS = ("domain", "domain_x_feature_logit", "domain_x_judge_logit", "domain_x_probe_logit", *GATED_FEATURES)
COMBINATION_INPUTS = ("feature_logit", "judge_logit", "probe_logit", *GATED_INPUTS)


def combination_values(feature: float, judge: float, probe: float, domain: float | None,
                       features: np.ndarray | None = None) -> dict[str, float]:
    """The inputs a combination may read. With the probe's domain score, also its products with the three logits
    and with each alignment feature (a row of FEATURES), so that one fitted combination can weigh each reader by
    the kind of text it scores (a learned gate), and on our notes' kind of text weigh each feature on the claims
    written there (the feature model itself is fitted on WiCE and perturbations only)."""
    values = {"feature_logit": feature, "judge_logit": judge, "probe_logit": probe}
    if domain is not None:
        values |= {"domain": domain} | {f"domain_x_{k}": domain * v for k, v in list(values.items())}
        if features is not None:
            values |= {gate: domain * float(v) for gate, v in zip(GATED_FEATURES, features)}
    return values


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
    centre: tuple[float, ...] = ()  # each input is read as (value - centre) / scale; empty: as it is
    scale: tuple[float, ...] = ()

    @property
    def gated(self) -> bool:
        return any(name in GATED_INPUTS for name in self.inputs)

    def probability(self, values: dict[str, float]) -> float:
        missing = [name for name in self.inputs if name not in values]
        if missing:
            raise ValueError(f"the judge combination reads {missing}, which this judge and probe do not give (a probe "
                             "without its domain head?); refit both with `make train-grounding`")
        row = self.standardized(np.array([float(values[name]) for name in self.inputs]))
        return sigmoid(self.bias + float(row @ np.asarray(self.weights)))

    def standardized(self, raw: np.ndarray) -> np.ndarray:
        """Inputs (a row, or rows in `inputs` order) as the weights read them: (value - centre) / scale, or as
        they are for a combination fitted before inputs were standardized."""
        if not self.centre:
            return np.asarray(raw, dtype=np.float64)
        return (np.asarray(raw, dtype=np.float64) - np.asarray(self.centre)) / np.asarray(self.scale)

    def to_json(self) -> dict:
        return {"inputs": list(self.inputs), "weights": list(self.weights), "bias": self.bias, "threshold": self.threshold,
                "short_circuit": self.short_circuit, "trained_on": self.trained_on} | (
                    {"centre": list(self.centre), "scale": list(self.scale)} if self.centre else {})

    @classmethod
    def from_json(cls, data: dict) -> "JudgeCombination":
        inputs = tuple(data["inputs"])
        unknown = [i for i in inputs if i not in COMBINATION_INPUTS]
        centre, scale = tuple(data.get("centre", ())), tuple(data.get("scale", ()))
        if unknown or len(inputs) != len(data["weights"]) or len(centre) != len(scale) or centre and len(centre) != len(inputs):
            raise ValueError(f"a judge combination with inputs {list(inputs)}, {len(data['weights'])} weights and "
                             f"{len(centre)} centres; expected inputs among {list(COMBINATION_INPUTS)}, one weight (and, "
                             "if given, one centre and scale) each: run `make train-grounding`")
        if any(float(s) <= 0 for s in scale):
            raise ValueError(f"a judge combination with scales {list(scale)}; every scale must be positive: run "
                             "`make train-grounding`")
        return cls(inputs, tuple(float(w) for w in data["weights"]), float(data["bias"]), float(data["threshold"]),
                   data.get("trained_on", ""), bool(data.get("short_circuit", True)),
                   tuple(float(c) for c in centre), tuple(float(s) for s in scale))


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
        return np.array([apply_checks(sigmoid(float(zi)), row) for zi, row in zip(z, feats)])

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
        self._judge_evidence = JudgeEvidence(self._embed)

    def _quoted(self, claim: str, note_ids: list[str]) -> dict | None:
        """The cited note sentence that contains the claim word for word, if any."""
        target = normalised(claim)
        if not target.strip():
            return None
        for nid in note_ids:
            for text, _ in self.note_sentences(nid) or []:
                if target in normalised(text):
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
            found, order, unsupported = claim_features(claim, vector, evidence, self._embed(claim_parts_), claim_tokens)
            feats = found.vector()
            p = float(self.model.probability(feats[None, :])[0]) if evidence else 0.0
            out.append(self._decide(claim, feats, order, unsupported, evidence, p, mode))
        return out


    def _combination(self) -> JudgeCombination | None:
        return self.combination.pick(self.probe is not None) if self.combination is not None else None

    def _decide(self, claim: str, feats: np.ndarray, order: list[int], unsupported: list[str], evidence: list[Evidence],
                p: float, mode: str) -> GroundingScore:
        """The support of one non-quote sentence: the features' alone, or combined with the judge (and probe)."""
        shown = [{"id": evidence[i].note_id, "text": evidence[i].text} for i in order[:2]]
        threshold, decided_by, judged, probed = self.model.threshold, "features", None, None
        combination = self._combination()
        settled = (combination.short_circuit if combination else True) and decided_by_features(feats)
        if self.judge is not None and evidence and (mode == "llm" or (mode == "auto" and not settled)):
            texts = self._judge_evidence(claim, [e.text for e in evidence])
            verdict = self.judge.support(claim, texts)
            judged = round(verdict.probability, 4)
            read = self.probe is not None and verdict.hidden is not None
            probe_logit = self.probe.logit(verdict.hidden) if read else None
            probed = round(sigmoid(probe_logit), 4) if read else None
            if self.combination is not None:
                combination = self.combination.pick(read)
                p = combination.probability(combination_values(
                    feature_logit(p), verdict.logit, probe_logit if read else 0.0,
                    self.probe.domain(verdict.hidden) if read else None, feats))
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
