"""One atomic write for every file petface-edge produces (manifests, galleries, checkpoints, caches).

A temporary file with a unique name in the target's own directory (so the rename stays on one
file system), flushed and fsynced, renamed over the target, then the directory fsynced so the
rename itself survives a power cut. A crash at any point leaves either the old file or the new
one, never half of either; the temporary file is removed on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


def fsync_dir(folder: Path) -> None:
    """Persist a rename in ``folder`` (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield an open temporary file; on a clean exit it replaces ``path`` atomically.

    The new file keeps the old file's permission bits, or gets the usual 0644 (mkstemp's
    0600 would surprise whoever shares the folder).
    """
    path = Path(path)
    perms = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, perms)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path) as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int = 2) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=indent) + "\n")
