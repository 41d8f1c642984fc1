"""Coverage: which parts of a question the retrieved notes speak to.

A question from a neighbouring field (architectures, optimisers, hardware, decoding, tokenisation...)
often lies close to the notes in embedding space because it shares the field's vocabulary; what gives
it away is a key term that no retrieved note uses. So a term of the question that names a topic
(a name or acronym, or a phrase from the neighbouring fields' vocabulary below) and appears in none of
the candidate notes is a gap. The question with its gaps taken out is embedded again: when what
remains still matches a note well, the question is partly covered (answer that part, name the gap);
otherwise it is declined. Ordinary words the notes happen not to use ("scrubbed", "wipe out") are
not gaps: researchers paraphrase.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import STOPWORDS, acronyms, alphanumeric_words, is_name, starts_sentence, terms_as_written, topic_words

# Vocabulary of the fields next to post-training. A phrase here that the candidate notes never use
# names a topic they do not cover; one they do use is simply covered (so a note added on, say,
# quantization makes quantization questions answerable with no change here).
NEIGHBOURING_FIELD_TERMS = tuple(sorted({
    # architectures
    "rotary", "position embedding", "position embeddings", "positional encoding", "positional encodings",
    "layer norm", "layernorm", "normalisation layer", "normalization layer", "residual stream width",
    "attention head", "attention heads", "multi-query attention", "grouped-query attention", "sliding window",
    "mixture-of-experts", "mixture of experts", "expert routing", "router", "load balancing", "load-balancing",
    "state-space", "state space model", "recurrent", "convolution", "convolutional", "encoder-decoder",
    "vision transformer", "context window", "context length", "long-context", "extrapolate", "extrapolation",
    "activation function", "feed-forward", "embedding dimension", "hidden size", "parameter count",
    # optimisation and pretraining recipes
    "optimizer", "optimiser", "learning rate", "learning-rate", "warmup", "weight decay", "momentum",
    "beta2", "beta1", "epsilon", "gradient clipping", "gradient norm", "loss spike", "loss spikes",
    "batch size", "minibatch", "mini-batch", "epochs", "epoch", "schedule", "scheduler", "cosine decay",
    "initialisation", "initialization", "hyperparameter", "hyperparameters", "scaling law", "scaling laws",
    "compute-optimal", "data mixture", "deduplication", "deduplicate", "curriculum", "sequence packing",
    "packing", "tokenizer", "tokeniser", "tokenization", "tokenisation", "byte-pair", "vocabulary size",
    # hardware and systems
    "gpu", "gpus", "tpu", "cuda", "kernel", "kernels", "memory bandwidth", "memory traffic", "throughput",
    "latency", "parallelism", "tensor parallel", "pipeline parallel", "data parallel", "sharding", "sharded",
    "mixed precision", "half precision", "activation checkpointing", "gradient checkpointing", "offloading",
    "kv cache", "kv-cache", "paged attention", "inference server", "serving", "batching", "compile",
    # inference, decoding and compression
    "beam search", "greedy decoding", "speculative decoding", "draft model", "top-p", "top-k", "nucleus",
    "temperature", "decoding strategy", "quantization", "quantisation", "quantize", "quantise", "pruning",
    "sparsity", "distillation", "distil", "distill", "compression", "low-bit", "int4", "int8", "4-bit", "8-bit",
    # retrieval, multimodal and other fields
    "retrieval-augmented", "reranker", "re-ranker", "cross-encoder", "vector database", "embedding model",
    "hard negatives", "in-batch negatives", "contrastive", "image", "images", "caption", "captions",
    "diffusion", "text-to-image", "speech", "audio", "video", "vision-language", "multimodal", "multilingual",
    "translation", "watermark", "watermarks", "watermarking", "membership inference", "differential privacy",
    "federated", "logit lens", "tuned lens", "sparse autoencoder", "sparse autoencoders", "model merging",
    "merging", "sandbox", "sandboxes", "unit tests", "agent", "agents", "tool use", "tool-use", "function calling",
    "benchmark contamination", "contamination", "leaked", "leakage",
}, key=lambda t: (-len(t), t)))

_PHRASES = [re.compile(rf"(?<![\w-]){re.escape(t)}(?![\w-])", re.IGNORECASE) for t in NEIGHBOURING_FIELD_TERMS]


@dataclass(frozen=True)
class Coverage:
    """What the notes cover of a question: the gaps (as written in the question) and the rest of it."""

    gaps: list[str] = field(default_factory=list)
    remainder: str = ""  # the question with its gaps taken out

    @property
    def complete(self) -> bool:
        return not self.gaps


def _variants(term: str) -> list[str]:
    """Surface forms to look for in the notes: the term and its singular ('LLMs' -> 'LLM')."""
    base = re.sub(r"(?i)'s$", "", term)
    forms = [base]
    if len(base) > 3 and base.lower().endswith("s") and not base.lower().endswith("ss"):
        forms.append(base[:-1])
    return forms


def _used_in(term: str, texts: str, lowered: str) -> bool:
    """Whether the notes use the term: acronyms are matched with their case ('CLIP' is not 'Clip-Higher')."""
    for form in _variants(term):
        if form.isupper() and len(form) > 1:
            if re.search(rf"(?<![\w]){re.escape(form)}(?![\w])", texts):
                return True
        elif re.search(rf"(?<![\w]){re.escape(form.lower())}(?![\w])", lowered):
            return True
    return False


def find_gaps(question: str, note_texts: list[str]) -> Coverage:
    """Terms of the question that name a topic and appear in none of `note_texts`, plus what is left."""
    texts = "\n".join(note_texts)
    lowered = texts.lower()
    gaps: list[tuple[int, int, str]] = []
    for pattern in _PHRASES:
        for m in pattern.finditer(question):
            if not any(s <= m.start() < e for s, e, _ in gaps) and not _used_in(m.group(0), texts, lowered):
                gaps.append((m.start(), m.end(), m.group(0)))
    for start, token in terms_as_written(question):
        token = token.rstrip(".")
        first = starts_sentence(question, start)
        # In a compound ('RL-tuned', 'FLAN-style') only the parts that are names must appear in the notes.
        parts = [p for p in token.split("-") if len(p) > 1 and is_name(p, first and p == token.split("-")[0])]
        if (len(token) > 1 and is_name(token, first) and not any(s <= start < e for s, e, _ in gaps)
                and not _used_in(token, texts, lowered) and not all(_used_in(p, texts, lowered) for p in parts or [token])
                and not _spelled_in(re.sub(r"(?i)'?s$", "", token), texts)):
            gaps.append((start, start + len(token), token))
    gaps = _merge_adjacent(sorted(gaps), question)
    remainder = question
    for start, end, _ in reversed(gaps):
        remainder = remainder[:start] + remainder[end:]
    return Coverage([g for _, _, g in gaps], " ".join(remainder.split()))


_PART_BREAK = re.compile(
    r"\?\s+|;\s+|,?\s+(?:and|or|but)\s+(?=(?:which|what|how|why|when|where|who|whose|whether|did|does|do|is|are|was|were|can|could|would|should|if)\b)",
    re.IGNORECASE)


def question_parts(question: str) -> list[str]:
    """The separate asks of a compound question ("which models were attacked, and how was harm judged?"),
    each with at least two topic words; a question that asks one thing gives no parts."""
    parts = [p.strip(" ,?") for p in _PART_BREAK.split(question)]
    parts = [p for p in parts if len(topic_words(p)) >= 2]
    return parts if len(parts) >= 2 else []


_LINK_WORDS = frozenset("of from with for and the to in on by via a an".split())


def spelled_out(text: str, longest: int = 6, names_only: bool = False) -> dict[str, str]:
    """Acronyms the text spells out, lower case, with the words that spell them most often: 'reinforcement
    learning from human feedback' -> 'rlhf', 'Constitutional AI' -> 'cai' (a word in capitals gives all its
    letters; short linking words such as 'from' or 'with' give none). `names_only`: only spans whose words are
    capitalised."""
    tokens = alphanumeric_words(text)
    counts: dict[str, dict[str, int]] = {}
    for i, first in enumerate(tokens):
        if first.lower() in _LINK_WORDS:
            continue
        letters = ""
        for j in range(i, min(i + longest, len(tokens))):
            w = tokens[j]
            if w.lower() in _LINK_WORDS and j > i:
                continue
            if names_only and not w[0].isupper():
                break
            letters += w.lower() if w.isupper() and len(w) > 1 else w[0].lower()
            if j > i and len(letters) >= 2:
                phrase = " ".join(tokens[i:j + 1])
                counts.setdefault(letters, {})[phrase] = counts.get(letters, {}).get(phrase, 0) + 1
    return {a: max(phrases, key=phrases.get) for a, phrases in counts.items()}


def _spelled_in(acronym: str, texts: str) -> bool:
    """Whether the notes spell out an acronym of the question in capitalised words ('CAI' in 'Constitutional
    AI'); two letters are too easily spelled by chance."""
    return acronym.isupper() and 3 <= len(acronym) <= 6 and acronym.lower() in spelled_out(texts, len(acronym) + 2, True)


def expand_acronyms(question: str, note_texts: list[str]) -> str:
    """The question with each acronym the notes never write but spell out in capitalised words followed by
    their words ('CAI' -> 'Constitutional AI (CAI)'), so that its embedding knows what it asks about."""
    texts = "\n".join(note_texts)
    for token in dict.fromkeys(acronyms(question)):
        if not _used_in(token, texts, texts.lower()):
            phrase = spelled_out(texts, len(token) + 2, names_only=True).get(token.lower())
            if phrase:
                question = re.sub(rf"\b{token}\b", f"{phrase} ({token})", question)
    return question


def subject_uncovered(question: str, gaps: list[str]) -> bool:
    """Whether a gap is the question's main subject: it lies in the question's first ask (or the question
    asks one thing). A gap only in a later ask is a side part: named, and the rest answered."""
    parts = question_parts(question)
    first = parts[0] if parts else question
    return any(g in first for g in gaps)


def terms(question: str) -> list[str]:
    """The coined terms a question uses: hyphenated compounds ('quokka-pangolin'), acronyms and names with inner
    capitals or digits ('RLCR', 'GPT-4'); a plain capitalised word ('French') is too ordinary to count."""
    found = [token.rstrip(".") for _, token in terms_as_written(question)]
    coined = [t for t in found if "-" in t.strip("-") or any(c.isupper() for c in t[1:]) or any(c.isdigit() for c in t)]
    return list(dict.fromkeys(t for t in coined if any(c.isalpha() for c in t)))


def _merge_adjacent(gaps: list[tuple[int, int, str]], question: str) -> list[tuple[int, int, str]]:
    """'4-bit' and 'quantization' side by side are one gap: '4-bit quantization'."""
    merged: list[tuple[int, int, str]] = []
    for start, end, _ in gaps:
        if merged and not question[merged[-1][1]:start].strip():
            start = merged.pop()[0]
        merged.append((start, end, question[start:end]))
    return merged


def gap_share(question: str, coverage: Coverage) -> float:
    """Share of the question's topic words that fall inside its gaps."""
    total = len(topic_words(question))
    return 1.0 - len(topic_words(coverage.remainder)) / total if total else 0.0


def declines(coverage: Coverage, best: float, remainder_best: float | None, share: float, settings) -> bool:
    """Decline when no note is close, or when the question's gaps are central to it: without them no note
    matches well (`partial_floor`) and they are more than a peripheral share of its topic words."""
    if best < settings.abstain_cosine:
        return True
    if coverage.complete:
        return False
    return (remainder_best or 0.0) < settings.partial_floor and share > settings.peripheral_share
