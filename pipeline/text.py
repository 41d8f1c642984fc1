"""Plain-text helpers shared by every stage: sentence splitting, tokens, numbers, names, the logistic function."""
from __future__ import annotations

import hashlib
import math
import re

_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "cf.", "Fig.", "Eq.", "approx.", "No.", "Dr.", "etc.")
_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_PLACEHOLDER = "\u0000"
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']*|\d+(?:\.\d+)?%?")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%|x\b)?")
# A name token keeps inner dots and hyphens ("GPT-3.5", "Llama-2") and its case, which tells a name from a word.
_NAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Z]")

STOPWORDS = frozenset(
    """a an the and or but if then than that this these those of in on at to for from by with without
    as is are was were be been being it its it's they them their there here which who whom whose what
    when where why how not no nor do does did doing have has had having can could should would may
    might must will shall so such into onto over under about after before between through during up
    down out off again further once only own same too very just also both each few more most other
    some any all one two s t""".split()
)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping abbreviations such as 'et al.' and decimals intact."""
    protected = text
    for abbreviation in _ABBREVIATIONS:
        protected = protected.replace(abbreviation, abbreviation.replace(".", _PLACEHOLDER))
    sentences = []
    for paragraph in re.split(r"\n\s*\n", protected):
        paragraph = " ".join(line.strip() for line in paragraph.splitlines() if line.strip())
        if not paragraph or paragraph.startswith("#"):
            continue
        for sentence in _SPLIT.split(paragraph):
            sentence = sentence.replace(_PLACEHOLDER, ".").strip()
            if sentence:
                sentences.append(sentence)
    return sentences


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def numbers(text: str) -> list[str]:
    """Numbers as written ('0.1%', '3-4x' gives '3' and '4x'), normalised without spaces or commas."""
    return [re.sub(r"[\s,]", "", n) for n in _NUMBER.findall(text)]


def names(text: str) -> list[str]:
    """Capitalised words not at a sentence start, acronyms and tokens with digits: the 'names' of a claim, lowercased."""
    found = []
    for sentence in split_sentences(text) or [text]:
        tokens = _NAME_TOKEN.findall(sentence)
        for i, tok in enumerate(tokens):
            has_upper_inside = any(c.isupper() for c in tok[1:])
            if (i > 0 and tok[0].isupper()) or has_upper_inside or any(c.isdigit() for c in tok):
                if tok.lower() not in STOPWORDS:
                    found.append(tok.lower())
    return found


def word_count(text: str) -> int:
    return len(re.findall(r"\S+", text))


def sigmoid(x: float) -> float:
    """The logistic function 1 / (1 + e^-x), written so that it never overflows."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
