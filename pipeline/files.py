"""Files written and verified safely: one SHA-256 helper, one verified stamp, one atomic write.

Shared by the embedder's ONNX exports (embed.py), the index's generations (index.py), the judge's model file
(judge_install.py) and the probe's weights (probe.py). Cheap to import: standard library only.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks (the judge's model is 1.1 GB)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def size_and_mtime(path: Path) -> list[int]:
    """[size in bytes, modification time in ns]: recorded in a stamp when the file is hashed."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def unchanged_since_stamped(path: Path, recorded: object) -> bool:
    """Whether `path` still has the [size, mtime_ns] its stamp recorded. Then the digest recorded beside them
    still holds and the file need not be hashed again (a large file takes seconds); any rewrite moves the mtime."""
    return recorded == size_and_mtime(path)


def read_stamp(path: Path) -> dict:
    """The JSON object in a stamp file; {} when it is missing, unreadable or not an object (then nothing is vouched for)."""
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def write_fsynced(path: Path, *chunks: bytes | memoryview) -> None:
    """Write bytes-like chunks and fsync. Plain file writes, so a full disk raises ENOSPC by name."""
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside `path` for the block to write. When the block ends it is renamed over `path`
    (atomic within a folder); when the block fails it is deleted. Readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    with replaced_atomically(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` durably (fsynced) in place of `path`, all or nothing. `mode` sets the permissions before the
    rename (a users file is 0o600: readable by its owner only)."""
    with replaced_atomically(path) as tmp:
        write_fsynced(tmp, data)
        if mode is not None:
            os.chmod(tmp, mode)
