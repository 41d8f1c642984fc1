"""No note lost: every replace, delete or restore done through Inquire first keeps the old file's exact bytes,
with when and (with accounts) by whom; and every write is logged to an append-only audit file.

Both live beside the notes, in `<corpus>/.inquire/`, which is never read as notes (notes are the folder's own
`*.md` files, not its subfolders'):

    .inquire/history/<id>/versions.json   [{"version", "saved", "by", "sha256", "reason", "file"}], oldest first
    .inquire/history/<id>/0001.md ...      the bytes each version had
    .inquire/audit.jsonl                   one JSON object a line: {"time", "by", "address", "action", "id", ...}
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from .errors import InquireError
from .files import write_atomic
from .notes import ID_PATTERN

STATE_DIR = ".inquire"  # a hidden subfolder of the corpus: `*.md` globbing of the corpus never enters it


class HistoryError(InquireError, ValueError):
    """No such note or version in the history; the message lists what there is."""


@dataclass(frozen=True)
class Version:
    version: int
    saved: str  # ISO time, UTC, when this text was replaced, deleted or restored over
    by: str | None  # the account that did it; None without accounts (the command line, loopback)
    sha256: str
    reason: str  # replace | delete | restore
    file: str


def state_dir(corpus_dir: Path) -> Path:
    return corpus_dir / STATE_DIR


def audit_path(corpus_dir: Path) -> Path:
    return state_dir(corpus_dir) / "audit.jsonl"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _note_dir(corpus_dir: Path, note_id: str) -> Path:
    if not ID_PATTERN.match(note_id or ""):  # the id names a folder: never let it climb out
        raise HistoryError(f"{note_id!r} is not a note id (a lowercase slug such as 'reward-hacking')")
    return state_dir(corpus_dir) / "history" / note_id


def lock(corpus_dir: Path) -> FileLock:
    """One writer at a time across processes (the page and the command line) for history and corpus writes."""
    state_dir(corpus_dir).mkdir(parents=True, exist_ok=True)
    return FileLock(str(state_dir(corpus_dir) / "write.lock"), timeout=60)


def versions(corpus_dir: Path, note_id: str) -> list[Version]:
    path = _note_dir(corpus_dir, note_id) / "versions.json"
    if not path.is_file():
        return []
    try:
        return [Version(**v) for v in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, TypeError) as exc:
        raise HistoryError(f"{path} is unreadable ({exc}); the kept texts are beside it as numbered .md files") from None


def keep(corpus_dir: Path, note_id: str, reason: str, by: str | None) -> Version | None:
    """Keep the note's current file, if it has one, as a new version; call under `lock`, before changing it."""
    folder = _note_dir(corpus_dir, note_id)  # first: the id is checked before any path is built from it
    current = corpus_dir / f"{note_id}.md"
    if not current.is_file():
        return None
    data = current.read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    kept = versions(corpus_dir, note_id)
    number = len(kept) + 1
    version = Version(number, _now(), by, hashlib.sha256(data).hexdigest(), reason, f"{number:04d}.md")
    write_atomic(folder / version.file, data)  # the bytes first: a crash here leaves them unlisted, never listed and missing
    write_atomic(folder / "versions.json", json.dumps([asdict(v) for v in kept + [version]], indent=1).encode())
    return version


def version_bytes(corpus_dir: Path, note_id: str, number: int) -> bytes:
    kept = versions(corpus_dir, note_id)
    if not kept:
        raise HistoryError(f"note '{note_id}' has no history in {state_dir(corpus_dir) / 'history'}: it was never replaced or deleted through Inquire")
    match = [v for v in kept if v.version == number]
    if not match:
        raise HistoryError(f"note '{note_id}' has versions {', '.join(str(v.version) for v in kept)}; there is no version {number}")
    data = (_note_dir(corpus_dir, note_id) / match[0].file).read_bytes()
    if hashlib.sha256(data).hexdigest() != match[0].sha256:
        raise HistoryError(f"{_note_dir(corpus_dir, note_id) / match[0].file} does not match its recorded SHA-256; it was changed on disk")
    return data


def history_json(corpus_dir: Path, note_id: str) -> dict:
    """What `inquire history ID --json` prints: every kept version with its text, oldest first."""
    kept = versions(corpus_dir, note_id)
    return {"id": note_id, "versions": [
        {"version": v.version, "saved": v.saved, "by": v.by, "reason": v.reason, "sha256": v.sha256,
         "text": version_bytes(corpus_dir, note_id, v.version).decode("utf-8", errors="replace")} for v in kept]}


def audit(corpus_dir: Path, action: str, by: str | None, address: str | None = None, **detail) -> None:
    """Append one line to the audit log: opened for appending only, one write per line, so lines never interleave."""
    state_dir(corpus_dir).mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": _now(), "by": by, "address": address, "action": action, **detail}, ensure_ascii=False) + "\n"
    fd = os.open(audit_path(corpus_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)
