"""Hybrid retrieval: BM25 (bm25s) and dense similarity, fused by weighted reciprocal rank fusion."""
from __future__ import annotations

from dataclasses import dataclass

import bm25s
import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .index import NoteIndex
from .settings import Settings
from .text import stemmer

CANDIDATES = 50  # per ranking, before fusion
DENSE_CANDIDATES = 1000  # notes whose sentences are scored against the query


@dataclass(frozen=True)
class Hit:
    """One retrieved note, the record every ranking (BM25, dense, fused) returns."""

    id: str
    title: str
    score: float
    dense: float  # mean of note cosine and best sentence cosine with the query
    bm25: float


def rrf(rankings: list[tuple[list[int], float]], k: int) -> dict[int, float]:
    """Weighted reciprocal rank fusion (Cormack, Clarke & Buettcher 2009): sum of w / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking, weight in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return fused


def dense_note_scores(index: NoteIndex, query_vector: np.ndarray, also: np.ndarray | None = None) -> np.ndarray:
    """Per note: the mean of the note-vector cosine and its best sentence's cosine (best MRR on dev questions).

    Sentences are scored only for the DENSE_CANDIDATES notes nearest by note vector, plus the rows in
    `also`; other notes count as if their best sentence scored -1. Below that many notes this is exact,
    and a large sentence matrix (kept on disk) is only read where it matters.
    """
    note_scores = index.note_matrix() @ query_vector
    n = len(note_scores)
    rows = np.arange(n) if n <= DENSE_CANDIDATES else np.argpartition(-note_scores, DENSE_CANDIDATES - 1)[:DENSE_CANDIDATES]
    if also is not None and len(also):
        rows = np.union1d(rows, also)
    counts = index.sentence_count[rows]
    best_sentence = np.full(n, -1.0, dtype=np.float32)
    if counts.sum():
        starts = index.sentence_offset[rows]
        owner = np.repeat(rows, counts)
        # every sentence row of the chosen notes: start of each note's block plus 0..count-1, vectorised
        sentence_rows = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        scores = np.asarray(index.sentence_vectors[sentence_rows] @ query_vector, dtype=np.float32)
        np.maximum.at(best_sentence, owner, scores)
    return (note_scores + best_sentence) / 2


class NoteSearch:
    """Holds what queries need from a loaded index: the embedder and a BM25 model over note texts (stemmed, so
    "agree" matches "agreement")."""

    def __init__(self, index: NoteIndex, embedder, settings: Settings):
        self.index, self.embedder, self.settings = index, embedder, settings
        self.bm25 = bm25s.BM25()
        self._has_text = bool(index.notes)
        if self._has_text:
            tokens = bm25s.tokenize([n.text for n in index.notes], stopwords="en", stemmer=stemmer(), show_progress=False)
            self.bm25.index(tokens, show_progress=False)

    def embed_query(self, query: str) -> np.ndarray:
        return self.embedder.embed([query])[0]

    def bm25_scores(self, query: str) -> np.ndarray:
        scores = np.zeros(len(self.index.notes), dtype=np.float32)
        if not self._has_text:
            return scores
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer(), show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return scores
        return np.asarray(self.bm25.get_scores(_query_tokens(tokens)), dtype=np.float32)

    def search(self, query: str, k: int | None = None, query_vector: np.ndarray | None = None) -> list[Hit]:
        k = k or self.settings.k
        if not self.index.notes:
            return []
        qv = self.embed_query(query) if query_vector is None else query_vector
        lexical = self.bm25_scores(query)
        lexical_rank = [int(i) for i in top_rows(lexical, CANDIDATES) if lexical[i] > 0]
        dense = dense_note_scores(self.index, qv, np.array(lexical_rank, dtype=np.int64))
        dense_rank = [int(i) for i in top_rows(dense, CANDIDATES)]
        fused = rrf([(dense_rank, self.settings.dense_weight), (lexical_rank, 1.0)], self.settings.rrf_k)
        order = sorted(fused, key=lambda r: (-fused[r], -dense[r]))[:k]
        return [Hit(self.index.notes[r].id, self.index.notes[r].title, fused[r], float(dense[r]), float(lexical[r])) for r in order]

    def rare_term_notes(self, terms: list[str], most: int = 2) -> set[str]:
        """The notes using one of `terms` (names or hyphenated compounds of a question) when at most `most` notes
        use all of its words: a term only one or two notes use is strong evidence for them ('quokka-pangolin')."""
        if not self._has_text:
            return set()
        found: set[str] = set()
        for term in terms:
            tokens = bm25s.tokenize([term], stopwords="en", stemmer=stemmer(), show_progress=False)
            words = _query_tokens(tokens) if tokens.ids and tokens.ids[0] else []
            rows = None
            for word in words:
                using = set(np.flatnonzero(np.asarray(self.bm25.get_scores([word])) > 0).tolist())
                rows = using if rows is None else rows & using
            if rows and len(rows) <= most:
                found |= {self.index.notes[r].id for r in rows}
        return found

    def best_dense(self, query: str) -> float:
        """The best note's dense score for a query: how well the closest note matches it."""
        if not self.index.notes:
            return -1.0
        return float(dense_note_scores(self.index, self.embed_query(query)).max())

    def search_dense(self, query: str, k: int) -> list[Hit]:
        dense = dense_note_scores(self.index, self.embed_query(query))
        return [Hit(self.index.notes[r].id, self.index.notes[r].title, float(dense[r]), float(dense[r]), 0.0) for r in top_rows(dense, k)]

    def search_bm25(self, query: str, k: int) -> list[Hit]:
        lexical = self.bm25_scores(query)
        return [Hit(self.index.notes[r].id, self.index.notes[r].title, float(lexical[r]), 0.0, float(lexical[r])) for r in top_rows(lexical, k)]


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k highest scores, best first, without sorting all of them."""
    if len(scores) <= k:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def _query_tokens(tokens) -> list[str]:
    inverse = {i: w for w, i in tokens.vocab.items()}
    return [inverse[i] for i in tokens.ids[0]]


class NoteRetriever(BaseRetriever):
    """LangChain retriever over the note index, so the hybrid search plugs into other chains."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    search: NoteSearch
    k: int = 6

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        docs = []
        for hit in self.search.search(query, self.k):
            note = self.search.index.note(hit.id)
            docs.append(Document(page_content=note.text, metadata={"id": hit.id, "title": hit.title, "score": hit.score, "dense": hit.dense, "bm25": hit.bm25}))
        return docs
