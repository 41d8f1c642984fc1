"""Notes: the corpus format, its parser and its validator.

A note is `corpus/<id>.md`: YAML front matter (id, title, summary, sources, tags, related) and a
Markdown body. Every note, shipped or added later, goes through `validate_file`/`check_corpus`.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import frontmatter
import yaml

from .errors import InquireError
from .text import content_hash, split_sentences, word_count

MAX_FILE_BYTES = 1_000_000
BODY_WORDS = (120, 400)
SUMMARY_SENTENCES = (1, 3)
REQUIRED_FIELDS = ("id", "title", "summary", "sources", "tags", "related")
SOURCE_FIELDS = ("title", "authors", "year", "url")
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9 \-+.]*$")


@dataclass(frozen=True)
class Source:
    title: str
    authors: str
    year: int
    url: str


@dataclass(frozen=True)
class Note:
    id: str
    title: str
    summary: str
    sources: tuple[Source, ...]
    tags: tuple[str, ...]
    related: tuple[str, ...]
    body: str

    @property
    def sentences(self) -> list[str]:
        """Body sentences, the units answers quote and the grounding scorer checks against."""
        return split_sentences(self.body)

    @property
    def text(self) -> str:
        """Everything retrieval should match against."""
        return "\n".join([self.title, self.summary, " ".join(self.tags), self.body])

    @property
    def hash(self) -> str:
        """Content hash of every field; canonical JSON because dumping YAML cost 3.6 ms a note (36 s at 10k)."""
        return content_hash(json.dumps({**self.listing(), "body": self.body.strip()}, sort_keys=True, ensure_ascii=False))

    def listing(self) -> dict:
        """The record `inquire notes --json` prints."""
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "tags": list(self.tags),
            "related": list(self.related),
            "sources": [asdict(s) for s in self.sources],
        }


@dataclass(frozen=True)
class Problem:
    path: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}"


@dataclass
class Corpus:
    notes: list[Note] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class NoteError(InquireError, ValueError):
    """A note (or corpus) failed validation; `problems` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _field_line(raw: str, name: str) -> int | None:
    match = re.search(rf"^{re.escape(name)}\s*:", raw, flags=re.MULTILINE)
    return raw.count("\n", 0, match.start()) + 1 if match else None


def _nonempty_str(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _check_sources(value, problem) -> tuple[Source, ...]:
    if not isinstance(value, list) or not value:
        problem("sources", "must be a non-empty list of {title, authors, year, url}")
        return ()
    sources = []
    for i, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            problem("sources", f"entry {i} must be a mapping with {', '.join(SOURCE_FIELDS)}")
            continue
        ok = True
        for name in SOURCE_FIELDS:
            if name not in item or item[name] in (None, "", []):
                problem("sources", f"entry {i} has no '{name}'; add it")
                ok = False
        authors = item.get("authors")
        if isinstance(authors, list) and all(_nonempty_str(a) for a in authors):
            authors = ", ".join(a.strip() for a in authors)
        elif authors not in (None, "", []) and not _nonempty_str(authors):
            problem("sources", f"entry {i} 'authors' must be a string or a list of strings")
            ok = False
        year = item.get("year")
        if year not in (None, "") and (isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100):
            problem("sources", f"entry {i} 'year' must be a year such as 2024 (got {year!r})")
            ok = False
        for name in ("title", "url"):
            if item.get(name) not in (None, "") and not _nonempty_str(item.get(name)):
                problem("sources", f"entry {i} '{name}' must be text (got {item.get(name)!r})")
                ok = False
        url = item.get("url")
        if _nonempty_str(url) and not re.match(r"^https?://\S+$", url.strip()):
            problem("sources", f"entry {i} 'url' must be an http(s) link (got {url!r})")
            ok = False
        if ok:
            sources.append(Source(item["title"].strip(), authors.strip(), year, url.strip()))
    return tuple(sources)


def _check_keywords(name: str, value, problem) -> tuple[str, ...]:
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problem(name, f"must be a list of strings (got {value!r:.80})")
        return ()
    return tuple(v.strip() for v in value)


def _front_matter(raw: str, path: str):
    """(the parsed post, None), or (None, the problem) when the front matter is missing or unreadable."""
    if not raw.lstrip("\ufeff").startswith("---"):
        return None, Problem(path, "front matter", "missing: the file must start with a '---' line, then YAML, then '---'", 1)
    try:
        post = frontmatter.loads(raw.lstrip("\ufeff"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, Problem(path, "front matter", f"unparsable YAML: {reason}; fix the YAML syntax (quote values containing ':' or '#')", line)
    except Exception as exc:  # frontmatter raises plain ValueErrors for some malformed delimiters
        return None, Problem(path, "front matter", f"unreadable: {exc}", 1)
    if not isinstance(post.metadata, dict) or not post.metadata:
        return None, Problem(path, "front matter", "empty or not a mapping of fields", 1)
    return post, None


def parse_note(raw: str, path: str, expected_id: str | None = None) -> tuple[Note | None, list[Problem]]:
    """Parse and validate one note's text. Cross-note checks (duplicates, related ids) are separate."""
    problems: list[Problem] = []

    def problem(name: str, message: str) -> None:
        problems.append(Problem(path, name, message, _field_line(raw, name)))

    post, fatal = _front_matter(raw, path)
    if post is None:
        return None, [fatal]
    meta = post.metadata
    for name in REQUIRED_FIELDS:
        if name not in meta or (meta[name] in (None, "", []) and name != "related"):
            problem(name, "missing or empty; every note needs it")
    note_id, title, summary = meta.get("id"), meta.get("title"), meta.get("summary")
    if note_id not in (None, ""):
        if not isinstance(note_id, str) or not ID_PATTERN.match(note_id):
            problem("id", f"must be a lowercase slug like 'reward-hacking' (a-z, 0-9, single hyphens); got {note_id!r:.80}")
        elif expected_id is not None and note_id != expected_id:
            problem("id", f"'{note_id}' differs from the file name stem '{expected_id}'; rename one to match")
    if title not in (None, ""):
        if not _nonempty_str(title):
            problem("title", f"must be text (got {title!r:.80})")
        elif not title.strip().endswith("?"):
            problem("title", f"must be the question the note answers, ending in '?' (got {title.strip()!r:.80})")
        elif len(title) > 300:
            problem("title", f"too long ({len(title)} characters; at most 300)")
    if summary not in (None, ""):
        if not _nonempty_str(summary):
            problem("summary", f"must be text (got {summary!r:.80})")
        else:
            n = len(split_sentences(summary.strip()))
            if not SUMMARY_SENTENCES[0] <= n <= SUMMARY_SENTENCES[1]:
                problem("summary", f"has {n} sentences; write {SUMMARY_SENTENCES[0]}-{SUMMARY_SENTENCES[1]}")
    sources = _check_sources(meta.get("sources"), problem) if meta.get("sources") not in (None, "", []) else ()
    tags = _check_keywords("tags", meta.get("tags"), problem)
    for tag in tags:
        if not TAG_PATTERN.match(tag):
            problem("tags", f"tag {tag!r:.60} must be a lowercase keyword")
    related = _check_keywords("related", meta.get("related"), problem)
    for rid in related:
        if not ID_PATTERN.match(rid):
            problem("related", f"{rid!r:.80} is not a note id (lowercase slug)")
        elif rid == note_id:
            problem("related", f"the note links to itself ('{rid}'); remove it")

    body = post.content.strip()
    body_line = raw.count("\n", 0, raw.find(post.content[:40])) + 1 if body else None
    n_words = word_count(body)
    if n_words < BODY_WORDS[0] or n_words > BODY_WORDS[1]:
        problems.append(Problem(path, "body", f"has {n_words} words; write {BODY_WORDS[0]}-{BODY_WORDS[1]}", body_line))
    if problems:
        return None, problems
    return Note(note_id, title.strip(), " ".join(summary.split()), sources, tags, related, body), []


def read_note_text(path: Path, corpus_dir: Path | None = None) -> tuple[str | None, list[Problem]]:
    """A note file's text, after the checks that come before parsing: symlink, size, encoding, NUL bytes."""
    shown = str(path)
    if path.is_symlink():
        target = path.resolve()
        inside = corpus_dir is not None and target.is_relative_to(corpus_dir.resolve())
        if not inside:
            return None, [Problem(shown, "file", f"is a symlink to {target}, outside the corpus; copy the note in instead")]
    if not path.is_file():
        return None, [Problem(shown, "file", "does not exist or is not a regular file")]
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return None, [Problem(shown, "file", f"is {size:,} bytes; notes must be under {MAX_FILE_BYTES:,} bytes")]
    data = path.read_bytes()
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(shown, "file", f"is not UTF-8 (byte {exc.start}); save it as UTF-8", line)]
    problems = _text_problems(raw, shown, len(data))
    return (None, problems) if problems else (raw, [])


def _text_problems(raw: str, origin: str, size: int | None = None) -> list[Problem]:
    """A note's text, however it arrived: under the size limit (`size` in bytes, when already known), and
    text (no NUL bytes)."""
    size = len(raw.encode("utf-8", errors="surrogatepass")) if size is None else size
    if size > MAX_FILE_BYTES:
        return [Problem(origin, "file", f"is {size:,} bytes; notes must be under {MAX_FILE_BYTES:,} bytes")]
    if "\x00" in raw:
        return [Problem(origin, "file", "contains NUL bytes; notes are text files")]
    return []


def read_note_file(path: Path, corpus_dir: Path | None = None) -> tuple[Note | None, list[Problem]]:
    """Read and parse one note file safely; its id must be the file name's stem."""
    raw, problems = read_note_text(path, corpus_dir)
    return parse_note(raw, str(path), expected_id=path.stem) if raw is not None else (None, problems)


def note_files(corpus_dir: Path) -> list[Path]:
    return sorted(p for p in corpus_dir.glob("*.md"))


def corpus_signature(corpus_dir: Path) -> tuple:
    """Names, sizes and modification times of the note files: equal signatures mean nothing was added,
    edited or deleted (a stat per file, no reading), so a running server can check before every question."""
    try:
        return tuple((p.name, st.st_size, st.st_mtime_ns) for p in note_files(corpus_dir) if (st := p.stat()))
    except OSError:  # a file vanished mid-listing: treat the corpus as changed
        return ()


def load_corpus(corpus_dir: Path) -> Corpus:
    """Read and validate every note, then the checks that span notes (duplicate ids, related links)."""
    if not corpus_dir.is_dir():
        return Corpus([], [Problem(str(corpus_dir), "corpus", "is not a directory; pass --corpus DIR or set INQUIRE_CORPUS")])
    corpus = Corpus()
    seen: dict[str, str] = {}
    for path in note_files(corpus_dir):
        note, problems = read_note_file(path, corpus_dir)
        corpus.problems.extend(problems)
        if note is None:
            continue
        if note.id in seen:
            corpus.problems.append(Problem(str(path), "id", f"duplicate id '{note.id}' (also in {seen[note.id]})"))
            continue
        seen[note.id] = str(path)
        corpus.notes.append(note)
    corpus.problems.extend(related_problems(corpus.notes, corpus_dir))
    return corpus


def related_problems(notes: list[Note], corpus_dir: Path) -> list[Problem]:
    ids = {n.id for n in notes}
    problems = []
    for note in notes:
        for rid in note.related:
            if rid not in ids and rid != note.id:
                path = corpus_dir / f"{note.id}.md"
                raw = path.read_text(encoding="utf-8") if path.is_file() else ""
                problems.append(Problem(str(path), "related", f"links to unknown note id '{rid}'; add that note or remove the link", _field_line(raw, "related")))
    return problems


def check_note_text(raw: str, origin: str, corpus_dir: Path, expected_id: str | None = None,
                    earlier: list[Problem] | None = None) -> Note:
    """Validate a note about to be added from its text (a form, an upload, a file already read): the id comes
    from its front matter and must equal `expected_id` when given. `origin` names it in problems. Every fault
    is reported at once: its own fields, `related` ids missing from the corpus, and `earlier` problems (found
    while building the text, such as a form's malformed sources line)."""
    problems = list(earlier or []) + _text_problems(raw, origin)
    if len(problems) > len(earlier or []):
        raise NoteError(problems)
    note, own = parse_note(raw, origin, expected_id)
    problems += own + _unknown_related(raw, origin, corpus_dir)
    if problems:
        raise NoteError(problems)
    return note


def _unknown_related(raw: str, origin: str, corpus_dir: Path) -> list[Problem]:
    """The note's well-formed `related` ids that no note in the corpus it joins has (a note may replace its own
    id's note); read from the front matter directly, so they are reported even when other fields are wrong."""
    post, _ = _front_matter(raw, origin)
    related = post.metadata.get("related") if post is not None else None
    if not isinstance(related, list):
        return []
    own_id = post.metadata.get("id")
    known = {n.id for n in load_corpus(corpus_dir).notes}
    return [Problem(origin, "related", f"links to unknown note id '{rid}'; add that note or remove the link", _field_line(raw, "related"))
            for rid in related if isinstance(rid, str) and ID_PATTERN.match(rid.strip()) and rid.strip() not in known
            and rid.strip() != own_id]
