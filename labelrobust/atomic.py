"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

The bytes go to a temporary file in the same directory, are flushed and fsynced, and replace
the target with ``os.replace`` (atomic on POSIX and Windows); the directory is fsynced too so
the rename survives a power cut.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from labelrobust.errors import OutputError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; a run's files follow the user's umask like any other file (so a
        # colleague on a shared cluster can read them).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def require_writable_dir(directory: str | Path, what: str, hint: str = "") -> Path:
    """Create ``directory`` if needed and check it can be written; OutputError (one line) otherwise.

    Called before any work starts, so a read-only run directory or an output path that is a
    file fails at once instead of after an hour of attacks.
    """
    directory = Path(directory)
    hint = f"; {hint}" if hint else ""
    for parent in [directory, *directory.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{what} {directory} cannot be created: {parent} is a file, not a folder{hint}")
            break
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{what} {directory} cannot be created ({err.strerror}){hint}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {directory} is not writable (permission denied){hint}")
    return directory


def _umask() -> int:
    """The process's current umask. Linux reports it in /proc (read-only, thread-safe); elsewhere
    the only way to read it is to set it and restore it at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
