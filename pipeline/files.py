"""Writing files so that a crash, a full disk or kill -9 leaves either the old file or the new one, never half."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to a temporary file in `path`'s folder, flush it to disk, then rename it over `path`.
    `mode` sets the permissions first (a users file is 0o600: readable by its owner only)."""
    handle, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(part, mode)
        os.replace(part, path)
    finally:
        if os.path.exists(part):
            os.unlink(part)
