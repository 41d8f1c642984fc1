"""A fake embedder for fast plumbing tests (index layout, incremental builds, locks): deterministic hashed
bag-of-words vectors, no model. The real model is tested elsewhere; this one only has to be stable."""
import hashlib
import re

import numpy as np


class FakeEmbedder:
    name, dim, kind = "fake-hashed-words", 64, "fake"

    def _word(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()) or [""]:
                out[i] += self._word(word)
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
        return out

    def token_vectors(self, texts: list[str]) -> list[np.ndarray]:
        return [np.stack([self._word(w) / np.linalg.norm(self._word(w)) for w in re.findall(r"\w+", t.lower())] or
                         [np.zeros(self.dim, np.float32)]) for t in texts]
