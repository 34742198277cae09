"""Where the lab keeps what it fetched or built, and how it writes there safely.

Why it exists: fetching packages and building a kernel takes minutes, so results are
cached and reused across runs and sessions.  Every writer here is safe to kill at any
moment: files are produced under a temporary name in the same directory and renamed
into place, and a directory is only "done" once its marker file exists.

Invariants:
- the cache root is ``$TEMPER_LAB_CACHE`` or ``${XDG_CACHE_HOME:-~/.cache}/temper/lab``;
- a path returned by :func:`atomic_path` never exists in a half-written state;
- cache keys are hex SHA-256 digests of a canonical JSON encoding of their inputs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

DONE_MARKER = ".done"


def cache_root(env: dict[str, str] | None = None) -> Path:
    """Return the lab cache directory (not created)."""
    e = os.environ if env is None else env
    explicit = e.get("TEMPER_LAB_CACHE")
    if explicit:
        return Path(explicit)
    xdg = e.get("XDG_CACHE_HOME") or str(Path(e.get("HOME", str(Path.home()))) / ".cache")
    return Path(xdg) / "temper" / "lab"


def cache_key(*parts: object) -> str:
    """Stable content key: SHA-256 of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place on success."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``final``; rename it into place on success.

    The finished directory carries a ``.done`` marker; see :func:`is_done`.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        (tmp / DONE_MARKER).write_text("ok\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def is_done(directory: Path) -> bool:
    """True when ``directory`` was completed by :func:`atomic_dir`."""
    return (directory / DONE_MARKER).is_file()


@contextlib.contextmanager
def locked(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive advisory lock ``root/locks/name`` (blocks until free)."""
    lock_dir = root / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / name).open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
