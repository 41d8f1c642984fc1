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
    # Composer (tuned on the tune split of tests/data/answer_eval_*.jsonl only):
    # weight of the share of the question's topic words a sentence uses, beside its cosine.
    lexical_weight: float = 0.5
    # weight of the question-to-title cosine when ranking notes (titles are questions).
    title_weight: float = 0.0
    # weight of the share of the question's names (papers, authors) found in a note's sources.
    source_weight: float = 0.3
    # weight of the note's retrieval rank (weight / (1 + rank)) when choosing the lead note.
    rank_weight: float = 0.1
    # a note that uses more of the question's distinctive words, in any of its sentences, is helped by this much.
    coverage_weight: float = 0.5
    # a lead note whose title is this close to the question gives its whole summary.
    title_match: float = 0.55
    # a note whose title question is this close to the question leads the answer (its direct answer)...
    title_lead: float = 0.7
    # ...helped by this much when notes are ranked.
    title_lead_bonus: float = 1.0
    # sentences of the lead note within this much of its best one join the answer...
    sentence_margin: float = 0.5
    # ...up to this many.
    lead_sentences: int = 8
    # another note joins only if its best sentence is within this much of the lead's best...
    note_margin: float = 0.25
    # ...and at least this relevant; it gives at most `other_sentences`.
    note_floor: float = 0.5
    other_sentences: int = 2
    # the lead's best counts at most this much when other notes are measured against it.
    relevance_cap: float = 1.1
    # The lead note may add up to `completing_sentences` more that bring in a question word still missing,
    # if within `completion_margin` of its best.
    completing_sentences: int = 2
    completion_margin: float = 0.7
    # The body sentence after each of the lead's first `follow_sentences` picks joins if within `follow_margin`.
    follow_sentences: int = 1
    follow_margin: float = 0.8
    # each part of a compound question ("which ..., and how ...?") adds the lead note's best sentences for it.
    part_sentences: int = 2
    part_margin: float = 0.1
    # a question that draws this many notes by relevance is broad: notes they link to may join...
    link_min_notes: int = 3
    # ...if its best sentence is within this much of the lead's.
    link_margin: float = 0.55
    # notes the composer looks at (the first `k` lead; the rest can join only through links).
    compose_candidates: int = 12
    # most notes cited in one answer.
    max_notes: int = 8
    # a sentence this similar to one already chosen adds nothing.
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
