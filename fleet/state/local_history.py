"""The local store's history files, checked against the states that count them.

A directory store reads ``<root>/<env>/history.jsonl`` before every load,
commit and history query, and refuses to act on one whose counted part is
damaged (:func:`fleet.state.journal.scan_history` walks it). Reading and
walking a long history each time would cost a cutover dearly, so what was
found whole is remembered by the file's identity (size, mtime, inode) and the
state's sequence number and digest: any change to either reads it again.
Kept apart from the store, which only decides what to write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from fleet.errors import StateError
from fleet.state.codec import GENESIS, Framed, StateMeta
from fleet.state.journal import Head, Scan, describe_damage, scan_history

Key = tuple[int, int, int, int, str | None]
"""The history file's size, mtime and inode, the state's seq and head digest."""


@dataclass
class Valid:
    """A history found whole up to the state's record: where it ends, and its records."""

    key: Key
    head: Head
    records: list[Framed]


class LocalHistory:
    """The history file of each environment below ``root``, and what is known to be whole of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._valid: dict[str, Valid] = {}

    def path(self, env: str) -> Path:
        return self.root / env / "history.jsonl"

    def read(self, env: str) -> tuple[bytes, tuple[int, int, int]]:
        """The file's bytes and identity (size, mtime, inode); empty when there is none."""
        path = self.path(env)
        try:
            with open(path, "rb") as handle:
                st = os.fstat(handle.fileno())
                return handle.read(), (st.st_size, st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            return b"", (0, 0, 0)
        except OSError as err:
            raise StateError(f"cannot read the history ({err.strerror})", file=str(path)) from err

    def check_no_orphan(self, env: str) -> None:
        """A history without a state is the torn tail of a first commit, or a state that was lost."""
        data, _ = self.read(env)
        scan = scan_history(data, 2, file=str(self.path(env)))
        if scan.records and (len(scan.records) > 1 or scan.records[0].seq > 1):
            raise StateError(
                f"the history holds {len(scan.records)} records but there is no state.json; "
                "restore the state, or move the history aside to start afresh",
                file=str(self.path(env)),
            )

    def scan(self, env: str, seq: int, head: str | None, *, differs: str) -> tuple[bytes, Scan]:
        """The file and its walk up to record ``seq``; a last record whose digest is not ``head`` is damage."""
        data, _ = self.read(env)
        scan = scan_history(data, seq, file=str(self.path(env)))
        if scan.damage is None and head is not None and scan.head.digest != head:
            scan = replace(scan, damage=f"record {seq} is not the one the state counts{differs}")
        return data, scan

    def validate(self, env: str, seq: int, meta: StateMeta) -> Valid:
        """The history up to record ``seq``, refused (StateError) where it is damaged."""
        path = self.path(env)
        if not path.exists() and seq == 0:
            valid = Valid((0, 0, 0, 0, meta.head), Head(0, GENESIS, 0), [])
            self._valid[env] = valid
            return valid
        try:
            st = path.stat()
        except FileNotFoundError:
            st = None
        except OSError as err:
            raise StateError(f"cannot read the history ({err.strerror})", file=str(path)) from err
        key = (st.st_size, st.st_mtime_ns, st.st_ino, seq, meta.head) if st else (0, 0, 0, seq, meta.head)
        cached = self._valid.get(env)
        if cached is not None and cached.key == key:
            return cached
        _, scan = self.scan(env, seq, meta.head, differs=" (its digest differs)")
        if scan.damage is not None:
            raise StateError(describe_damage(scan, seq, env), file=str(path))
        valid = Valid(key, scan.head, scan.records)
        self._valid[env] = valid
        return valid

    def forget(self, env: str) -> None:
        self._valid.pop(env, None)

    def written(self, env: str, seq: int, digest: str, end: int, records: list[Framed]) -> None:
        """What a commit just wrote is known to be whole: the next commit or load need not read it again."""
        try:
            st = self.path(env).stat()
        except OSError:
            return
        self._valid[env] = Valid((st.st_size, st.st_mtime_ns, st.st_ino, seq, digest), Head(seq, digest, end), records)
