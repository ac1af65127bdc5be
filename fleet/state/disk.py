"""How the local store touches the disk: appends, atomic replaces, a lock guard, each fsynced.

Every byte the local store writes goes through :class:`Files`, the seam where
tests inject a full disk or a read-only directory at any write. The guard
serialises the read-check-write of a lock between processes, and
``os_errors`` turns an OS failure into a :class:`StateError` naming the file.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fleet.errors import StateError


class Files:
    """How the store writes: append-with-truncate and atomic replace, each fsynced (the fault-injection seam)."""

    def append(self, path: Path, data: bytes, *, keep: int) -> None:
        """Cut ``path`` to its first ``keep`` bytes (a torn tail), then append ``data`` and fsync."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != keep:
                os.ftruncate(fd, keep)
            os.lseek(fd, keep, os.SEEK_SET)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)

    def atomic_write(self, path: Path, text: str) -> None:
        atomic_write(path, text)

    def link(self, source: Path, target: Path) -> None:
        os.link(source, target)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def guard(lock_path: Path) -> Iterator[None]:
    """Serialise every read-check-write of one lock file between processes (flock on a sidecar file)."""
    try:
        fd = os.open(lock_path.with_name(".lock.guard"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise StateError(f"cannot open the lock guard ({err.strerror})", file=str(lock_path)) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def os_errors(path: Path, doing: str) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        raise StateError(f"cannot {doing} ({err.strerror or err})", file=str(path)) from err


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)

