"""A probe on the judge's hidden state: support read from what the model computes, not only its Yes/No.

The local judge's final hidden state at the answer position holds more than the one direction that its
Yes-minus-No logit reads (the observation behind probing for truth, e.g. Marks and Tegmark 2023, "The Geometry
of Truth", and Burns et al. 2022, "Discovering Latent Knowledge"). The probe standardizes that state and applies
a model fitted on development data only (`make train-grounding`): a logistic regression, or (since the fifteenth
round) one layer of ReLU units under it, which reads who-did-what-to-whom better than one direction can:

    z = (h - mean) / scale
    P(supported) = sigmoid(w . z + b)                      (linear)
    P(supported) = sigmoid(w . relu(L z + c) + b)          (with a layer L, c)

An average of several such networks' logits is itself one: their units side by side, output weights divided by
their number, so one file shape holds an ensemble.

Its weights live in `judge_probe.json` (plain JSON, never pickle) together with the SHA-256 of the judge model
whose states it was fitted on: a probe is meaningless for any other model, so it is refused there.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InquireError
from .files import write_text_atomically
from .text import sigmoid

PROBE_FILE = Path(__file__).with_name("judge_probe.json")


class ProbeMismatch(InquireError, ValueError):
    """The probe file was fitted for another judge model (or is damaged); the message says which and the fix."""


@dataclass(frozen=True)
class JudgeProbe:
    weights: np.ndarray  # one per hidden dimension (linear) or per unit of `layer`
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    threshold: float  # the probe's own cut, chosen on out-of-fold predictions (balanced accuracy)
    model_sha256: str  # the judge model whose hidden states it was fitted on
    trained_on: str
    # A second head on the same standardized state: how much the text looks like claims on our notes (their
    # claims and perturbations) rather than the public sets (WiCE, SummaC). The combination reads it to lean on
    # the probe where the probe reads well and on the features elsewhere (a learned gate).
    domain_weights: np.ndarray | None = None
    domain_bias: float = 0.0
    layer: np.ndarray | None = None  # (units, hidden dimensions): ReLU units between the state and `weights`
    layer_bias: np.ndarray | None = None  # (units,)

    def logit(self, hidden: np.ndarray) -> float:
        """The probe's logit for one hidden state."""
        h = np.asarray(hidden, dtype=np.float64)
        if h.shape != self.mean.shape:
            raise ProbeMismatch(f"the judge's hidden state has {h.size} values, the probe expects {self.mean.size}; "
                                "refit it with `make train-grounding`")
        return float(self.logits(h))

    def logits(self, hidden: np.ndarray) -> np.ndarray:
        """Row-wise `logit` for a matrix of hidden states."""
        z = self._standardized(hidden)
        if self.layer is not None:
            z = np.maximum(z @ self.layer.T + self.layer_bias, 0.0)
        return z @ self.weights + self.bias

    def _standardized(self, hidden: np.ndarray) -> np.ndarray:
        return (np.asarray(hidden, dtype=np.float64) - self.mean) / self.scale

    def domain(self, hidden: np.ndarray) -> float | None:
        """P(the text is shaped like claims on our notes), or None for a probe fitted without that head."""
        if self.domain_weights is None:
            return None
        return sigmoid(float(self._standardized(hidden) @ self.domain_weights + self.domain_bias))

    def to_json(self) -> dict:
        out = {"model_sha256": self.model_sha256, "trained_on": self.trained_on, "threshold": self.threshold,
               "bias": self.bias, "weights": [round(float(x), 7) for x in self.weights],
               "mean": [round(float(x), 6) for x in self.mean], "scale": [round(float(x), 6) for x in self.scale]}
        if self.domain_weights is not None:
            out |= {"domain_bias": self.domain_bias, "domain_weights": [round(float(x), 7) for x in self.domain_weights]}
        if self.layer is not None:
            out |= {"layer": [[float(f"{x:.5g}") for x in row] for row in self.layer],
                    "layer_bias": [round(float(x), 7) for x in self.layer_bias]}
        return out


def save_probe(probe: JudgeProbe, path: Path = PROBE_FILE) -> None:
    write_text_atomically(path, json.dumps(probe.to_json()))


def load_probe(model_sha256: str, path: Path = PROBE_FILE) -> JudgeProbe:
    """The probe in `path`, checked to be fitted for the judge model with `model_sha256`.

    Raises ProbeMismatch when it was fitted for another model or its arrays disagree, FileNotFoundError when
    there is no probe file (before `make train-grounding`)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("model_sha256") != model_sha256:
        raise ProbeMismatch(f"{path} was fitted on the hidden states of the judge model with SHA-256 "
                            f"{data.get('model_sha256')}, not {model_sha256}; refit it with `make train-grounding`")
    try:
        weights, mean, scale = (np.asarray(data[k], dtype=np.float64) for k in ("weights", "mean", "scale"))
        domain = np.asarray(data["domain_weights"], dtype=np.float64) if "domain_weights" in data else None
        layer, layer_bias = (np.asarray(data[k], dtype=np.float64) if k in data else None for k in ("layer", "layer_bias"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProbeMismatch(f"{path} is damaged ({exc!r} reading its arrays); refit it with `make train-grounding`") from exc
    units = weights.shape if layer is None or layer.ndim != 2 else (layer.shape[0],)
    if (not (mean.shape == scale.shape) or mean.ndim != 1 or not np.all(scale > 0) or weights.shape != units
            or (layer is None) != (layer_bias is None)
            or (layer is not None and (layer.shape != (*units, mean.size) or layer_bias.shape != units))
            or (layer is None and weights.shape != mean.shape)
            or (domain is not None and domain.shape != mean.shape)):
        raise ProbeMismatch(f"{path} is damaged (weights {weights.shape}, mean {mean.shape}, scale {scale.shape}, layer "
                            f"{None if layer is None else layer.shape}, layer_bias "
                            f"{None if layer_bias is None else layer_bias.shape}, domain "
                            f"{None if domain is None else domain.shape}); refit it with `make train-grounding`")
    return JudgeProbe(weights, float(data["bias"]), mean, scale, float(data["threshold"]), data["model_sha256"],
                      data.get("trained_on", ""), domain, float(data.get("domain_bias", 0.0)), layer, layer_bias)


def probe_for(judge, path: Path = PROBE_FILE) -> tuple[JudgeProbe | None, str]:
    """(probe or None, why not). A judge that exposes no hidden state (a server) or no model hash gets none."""
    sha = getattr(judge, "model_sha256", None)
    if judge is None or not sha:
        return None, "the judge exposes no hidden state; its Yes/No logit is used"
    try:
        return load_probe(sha, path), "probe on the judge's hidden state"
    except FileNotFoundError:
        return None, f"no probe fitted ({path.name} missing; run `make train-grounding`); the judge's logit is used"
    except ProbeMismatch as exc:
        return None, f"probe not used: {exc}"
