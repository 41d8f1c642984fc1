"""One settings record, passed down explicitly from the CLI and the web app."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# Must be set before transformers / gradio are imported anywhere: nothing is fetched at run time.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def force_offline() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: Path(os.environ.get("INQUIRE_CORPUS", "corpus")))
    index_dir: Path = field(default_factory=lambda: Path(os.environ.get("INQUIRE_INDEX", "index")))
    # Bumped whenever the on-disk index layout changes; a mismatch forces a full rebuild.
    index_version: int = 5
    # Notes returned by retrieval and handed to the composer.
    k: int = 6
    # Reciprocal rank fusion constant (Cormack et al. 2009 use 60); 10 gave the best MRR on dev questions.
    rrf_k: int = 10
    # Weight of the dense ranking against BM25 in the fusion (1.0 = equal).
    dense_weight: float = 1.0
    # Below this best dense score the question is declined: dev questions score >= 0.38, off-topic ones <= 0.26.
    abstain_cosine: float = 0.28
    # Composer: which sentences answer is decided by the fitted ranking (pipeline/composer_weights.json, fitted on
    # the tune split by `python -m evaluation.fit_composer`); these only bound the answer's size.
    # notes retrieved for the composer, in notes (the first `k` are candidates, the rest only if linked from them).
    compose_candidates: int = 12
    # the brief: at most this many sentences...
    brief_sentences: int = 3
    # ...and this many words (a sentence past the first that would pass it is skipped).
    brief_words: int = 80
    # evidence behind the brief, in sentences, at most...
    evidence_sentences: int = 8
    # ...and the median answer length, in sentences, the evidence cut-off is fitted to (on the tune split).
    answer_sentences: int = 8
    # most notes cited in one answer.
    max_notes: int = 8
    # a sentence whose cosine to one already chosen is this high (unitless, 0-1) repeats it and is skipped.
    redundancy_cosine: float = 0.8
    # Coverage: candidate notes searched for the question's key terms.
    gap_candidates: int = 20
    # a question with a gap is still answered when, without the gap, a note matches it this well...
    partial_floor: float = 0.5
    # ...or when the gap is at most this share of its topic words.
    peripheral_share: float = 0.1
    # Fewest follow-up questions offered.
    next_lines: int = 4
    # Embedding batch size: all-MiniLM-L6-v2 on 2 CPU cores is fastest around 32-64.
    batch_size: int = 64
    # Show a progress bar when a build embeds more than this many texts.
    progress_threshold: int = 200
