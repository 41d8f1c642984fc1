"""Plain-text helpers shared by every stage: sentence splitting, tokens, numbers, names, the stemmer, the logistic
function. Each tokenizer is named for what it cuts out of a text; the stages need different cuts (a claim's words
with their numbers, a question's terms as written with their offsets, its topic words), and each cut lives here once."""
from __future__ import annotations

import hashlib
import math
import re
import threading

_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "cf.", "Fig.", "Eq.", "approx.", "No.", "Dr.", "etc.")
_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_PLACEHOLDER = "\u0000"
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']*|\d+(?:\.\d+)?%?")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%|x\b)?")
# A name token keeps inner dots and hyphens ("GPT-3.5", "Llama-2") and its case, which tells a name from a word.
_NAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Z]")
# A term keeps inner hyphens, dots and apostrophes ("RL-tuned", "GPT-3.5", "model's") and may start with a digit ("4-bit").
_TERM = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\.']*[A-Za-z0-9]|[A-Za-z0-9]")
_TOPIC_TOKEN = re.compile(r"[a-z][a-z0-9\-]+")  # matched in lower-cased text
_ALPHANUMERIC = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_ACRONYM = re.compile(r"\b[A-Z]{3,6}\b")
_LOCAL = threading.local()  # one stemmer per thread (see `stemmer`)

STOPWORDS = frozenset(
    """a an the and or but if then than that this these those of in on at to for from by with without
    as is are was were be been being it its it's they them their there here which who whom whose what
    when where why how not no nor do does did doing have has had having can could should would may
    might must will shall so such into onto over under about after before between through during up
    down out off again further once only own same too very just also both each few more most other
    some any all one two s t""".split()
)

# Words that carry no topic of their own: question scaffolding and the field's most common words.
GENERIC = frozenset("""
    model models language llm llms ai system systems method methods approach work works way ways good best
    better worse does do did happen happens happened make makes made use used using help helps affect affects
    effect effects change changes really actually exactly much many often usually typically still also
    really whether versus vs compared compare difference differ differs people someone something thing things
    need needs needed paper papers study studies result results finding findings research researchers
    question answer say says said tell show shows showed mean means kind kinds type types part
    """.split())


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


def terms_as_written(text: str) -> list[tuple[int, str]]:
    """Each term of the text as written, with its offset: a run of letters and digits keeping inner hyphens, dots
    and apostrophes ('GPT-3.5', 'RL-tuned', "model's"); the candidates for a question's names and coined terms."""
    return [(m.start(), m.group(0)) for m in _TERM.finditer(text)]


def topic_words(text: str) -> list[str]:
    """The words that carry a topic, lower-cased: two or more letters, digits or hyphens starting with a letter,
    neither stopwords nor question scaffolding (GENERIC)."""
    return [w for w in _TOPIC_TOKEN.findall(text.lower()) if w not in STOPWORDS and w not in GENERIC]


def alphanumeric_words(text: str) -> list[str]:
    """Runs of letters and digits starting with a letter, as written: hyphens and apostrophes split them
    ('Clip-Higher' gives 'Clip' and 'Higher')."""
    return _ALPHANUMERIC.findall(text)


def acronyms(text: str) -> list[str]:
    """Words of three to six capital letters, as written and in order (repeats kept): 'RLHF', 'CAI'."""
    return _ACRONYM.findall(text)


def stemmer():
    """The English Snowball stemmer (PyStemmer) every stage stems with: BM25's tokens and the topic words. One
    instance per thread, since a PyStemmer object keeps state between calls."""
    if not hasattr(_LOCAL, "stemmer"):
        import Stemmer

        _LOCAL.stemmer = Stemmer.Stemmer("english")
    return _LOCAL.stemmer


def topic_stems(text: str) -> frozenset[str]:
    """The text's topic words, stemmed. A hyphenated compound is stemmed part by part ("sleeper-agents" ->
    "sleeper-agent"), so its parts can be matched on their own."""
    stem = stemmer()
    return frozenset("-".join(stem.stemWords(w.split("-"))) if "-" in w else stem.stemWord(w) for w in topic_words(text))


def numbers(text: str) -> list[str]:
    """Numbers as written ('0.1%', '3-4x' gives '3' and '4x'), normalised without spaces or commas."""
    return [n for n, _ in numbers_at(text)]


def numbers_at(text: str) -> list[tuple[str, int]]:
    """`numbers` with the offset where each starts, for reading the words before it."""
    return [(re.sub(r"[\s,]", "", m.group()), m.start()) for m in _NUMBER.finditer(text)]


def names(text: str) -> list[str]:
    """Capitalised words not at a sentence start, acronyms and tokens with digits: the 'names' of a claim, lowercased
    (`names_as_written` gives a question's names as written, for coverage and the composer)."""
    found = []
    for sentence in split_sentences(text) or [text]:
        tokens = _NAME_TOKEN.findall(sentence)
        for i, tok in enumerate(tokens):
            has_upper_inside = any(c.isupper() for c in tok[1:])
            if (i > 0 and tok[0].isupper()) or has_upper_inside or any(c.isdigit() for c in tok):
                if tok.lower() not in STOPWORDS:
                    found.append(tok.lower())
    return found


def starts_sentence(text: str, position: int) -> bool:
    """Whether a word at `position` opens a sentence or quote, where a capital letter is no sign of a name."""
    return text[:position].rstrip()[-1:] in ("", ".", "?", "!", ":", ";", '"', "'", "(")


def is_name(token: str, first: bool) -> bool:
    """An acronym, a CamelCase or digit-bearing term, or a capitalised word not opening its sentence (`first`)."""
    if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
        return True
    inner_upper = any(c.isupper() for c in token[1:])
    return inner_upper or (token[:1].isupper() and not first and token.lower() not in STOPWORDS)


def names_as_written(text: str) -> list[str]:
    """The names a question uses (acronyms, CamelCase, digit-bearing terms, capitalised words inside it), as
    written and without a possessive 's; `names` instead gives a claim's names lower-cased, for the grounding
    features."""
    found = []
    for start, token in terms_as_written(text):
        token = token.rstrip(".")
        if len(token) > 1 and is_name(token, starts_sentence(text, start)):
            found.append(re.sub(r"(?i)'s$", "", token))
    return found


def word_count(text: str) -> int:
    return len(re.findall(r"\S+", text))


def sigmoid(x: float) -> float:
    """The logistic function 1 / (1 + e^-x), written so that it never overflows."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
