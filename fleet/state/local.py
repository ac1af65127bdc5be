"""The default state store: a local directory, no server.

Layout, one folder per environment::

    <root>/<env>/state.json      the current state (atomic: temp file, fsync, rename)
    <root>/<env>/history.jsonl   one framed JSON record per line, appended and fsynced first
    <root>/<env>/lock.json       the lock: lease id, holder's identity, lease expiry

History records are appended before the state that counts them is renamed
into place; the state carries the last record's sequence number and digest,
and each record the digest of the one before it (:mod:`fleet.state.codec`).
A crash between the two leaves a tail beyond the state's ``seq``: readers
ignore it and the next commit cuts it off before appending, so a torn line
never swallows the next record. Anything wrong within what the state counts
(a torn or edited line, a missing record, a missing file) is refused before
any command acts, naming the file and the last good record; ``fleet state
repair ENV`` keeps the damaged file aside and re-anchors the history.
Nothing here ever overwrites a file it could not read.

Every byte this store writes goes through :class:`Files` (:mod:`fleet.state.disk`), the seam where
tests inject a full disk or a read-only directory at any write. Reading and checking the history
file (and remembering what was found whole) is :mod:`fleet.state.local_history`; the lock is
:mod:`fleet.state.local_lease`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from fleet.domain.machine import EnvironmentState
from fleet.errors import LockedError, StateError
from fleet.ports import Record, Request
from fleet.state.codec import (
    GENESIS,
    Framed,
    StateMeta,
    check_owner,
    dump_state,
    frame_record,
    load_state_meta,
    record_line,
)
from fleet.state.disk import Files, atomic_write, guard, os_errors
from fleet.state.history import REPAIRED, aside_stamp, explains_gap, repair_record
from fleet.state.journal import Head, Scan, describe_damage, scan_history
from fleet.state.lease import decode_request, encode_request, held
from fleet.state.local_history import LocalHistory
from fleet.state.local_lease import LocalLease, acquire

__all__ = [
    "REPAIRED", "Files", "Head", "LocalLease", "LocalStateStore", "Scan", "atomic_write", "describe_damage",
    "explains_gap", "scan_history",
]


class LocalStateStore:
    """State, history and locks in a directory (default ``.fleet/state``).

    ``rehearsal`` says whose states this store may act on: True for a
    rehearsal (a real environment's state is refused), False for production
    commands (a rehearsal's state is refused), None to inspect either.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, rehearsal: bool | None = None, files: Files | None = None
    ) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.rehearsal = rehearsal
        self.files = files or Files()
        self.histories = LocalHistory(self.root)

    def _dir(self, env: str) -> Path:
        return self.root / env

    # --- state and history -----------------------------------------------------------------------

    def _read_state(self, env: str) -> tuple[EnvironmentState, StateMeta] | None:
        path = self._dir(env) / "state.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            raise StateError(f"cannot read state ({err})", file=str(path)) from err
        state, meta = load_state_meta(text, file=str(path))
        if state.env != env:
            raise StateError(f"holds environment {state.env!r}, not {env!r}", file=str(path), key="env")
        if meta.rehearsal is None:  # format 1: a rehearsal was known by its marker file
            meta = replace(meta, rehearsal=(self.root / "rehearsal.json").is_file())
        return state, meta

    def is_rehearsal(self, env: str) -> bool | None:
        """Whether ENV's state belongs to a rehearsal; None when there is no state."""
        found = self._read_state(env)
        return None if found is None else bool(found[1].rehearsal)

    def _check_owner(self, env: str, meta: StateMeta) -> None:
        path = str(self._dir(env) / "state.json")
        check_owner(env, meta, want=self.rehearsal, location=self.location, file=path, place="directory")

    def load(self, env: str) -> EnvironmentState | None:
        found = self._read_state(env)
        if found is None:
            self.histories.check_no_orphan(env)
            return None
        state, meta = found
        self._check_owner(env, meta)
        self.histories.validate(env, state.seq, meta)
        return state

    def commit(self, env: str, state: EnvironmentState, records: Sequence[Record]) -> None:
        folder = self._dir(env)
        with os_errors(folder, "save the state"):
            folder.mkdir(parents=True, exist_ok=True)
            head, rehearsal, known = self._head_before(env, state, records)
            self.histories.forget(env)
            digest = head.digest if head.seq == state.seq else GENESIS
            end = head.offset
            counted = list(known)
            if records:
                prev = head.digest
                data = b""
                for record in records:
                    framed, prev = frame_record(record, prev=prev, rehearsal=rehearsal)
                    data += record_line(framed).encode("utf-8")
                    if record.seq <= state.seq:
                        counted.append(Framed(framed, prev, str(self.histories.path(env)), record))
                        end = head.offset + len(data)
                    if record.seq == state.seq:
                        digest = prev
                self.files.append(self.histories.path(env), data, keep=head.offset)
            self.files.atomic_write(folder / "state.json", dump_state(state, rehearsal=rehearsal, head=digest))
        self.histories.written(env, state.seq, digest, end, counted)

    def _head_before(
        self, env: str, state: EnvironmentState, records: Sequence[Record]
    ) -> tuple[Head, bool, list[Framed]]:
        """Where the history the commit follows ends (validated), whose state this is, and its records."""
        before = records[0].seq - 1 if records else state.seq
        found = self._read_state(env)
        if found is None:
            if before != 0:
                raise StateError(f"no state to follow (this commit follows record {before})",
                                 file=str(self._dir(env) / "state.json"))
            return Head(0, GENESIS, 0), bool(self.rehearsal), []
        current, meta = found
        self._check_owner(env, meta)
        if current.seq != before:
            raise LockedError(env, f"another writer (the state is at record {current.seq}, not {before})")
        rehearsal = bool(meta.rehearsal) if self.rehearsal is None else self.rehearsal
        valid = self.histories.validate(env, current.seq, meta)
        return valid.head, rehearsal, valid.records

    def history(self, env: str) -> list[Record]:
        found = self._read_state(env)
        if found is None:
            self.histories.check_no_orphan(env)
            return []
        state, meta = found
        return [framed.record for framed in self.histories.validate(env, state.seq, meta).records]

    def repair(self, env: str, actor: dict[str, str]) -> dict[str, object]:
        """Keep a damaged history aside and go on from its last good record (call with the lock held)."""
        found = self._read_state(env)
        path = self.histories.path(env)
        if found is None:
            raise StateError("there is no state to repair the history against", file=str(self._dir(env) / "state.json"))
        state, meta = found
        data, scan = self.histories.scan(env, state.seq, meta.head, differs="")
        if scan.damage is None:
            return {"repaired": False, "file": str(path), "records": len(scan.records)}
        aside = path.with_name(f"history.jsonl.damaged-{aside_stamp()}")
        kept = scan.head.seq
        record = repair_record(state, kept, scan.damage, aside.name, actor)
        framed, digest = frame_record(record, prev=scan.head.digest, rehearsal=bool(meta.rehearsal))
        with os_errors(path, "repair the history"):
            if path.exists():
                self.files.link(path, aside)
            self.files.atomic_write(path, data[: scan.head.offset].decode("utf-8") + record_line(framed))
            repaired = replace(state, seq=record.seq)
            self.files.atomic_write(
                self._dir(env) / "state.json", dump_state(repaired, rehearsal=bool(meta.rehearsal), head=digest)
            )
        self.histories.forget(env)
        return {
            "repaired": True, "file": str(path), "aside": str(aside), "damage": scan.damage,
            "kept": kept, "lost": max(0, state.seq - kept),
        }

    def environments(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "state.json").is_file())

    # --- requests --------------------------------------------------------------------------------

    def post_request(self, env: str, request: Request) -> None:
        path = self._dir(env) / "request.json"
        # Under the lock file's guard, like take_request: a request written between the holder's read
        # and its unlink would otherwise be removed unread.
        with os_errors(path, "leave the request"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with guard(self._dir(env) / "lock.json"):
                self.files.atomic_write(path, encode_request(request))

    def has_request(self, env: str) -> bool:
        return (self._dir(env) / "request.json").exists()

    def take_request(self, env: str) -> Request | None:
        path = self._dir(env) / "request.json"
        lock_path = self._dir(env) / "lock.json"
        if not path.exists():
            return None
        claimed = path.with_name(f".request.{uuid.uuid4().hex}.taken")
        with guard(lock_path), os_errors(path, "take the request"):
            # Claimed by an atomic rename: a request posted after this moment is a new request.json, never
            # removed unread (and posts wait for the guard anyway).
            try:
                os.replace(path, claimed)
            except FileNotFoundError:
                return None
            try:
                text = claimed.read_text(encoding="utf-8")
            finally:
                claimed.unlink(missing_ok=True)
        return decode_request(text, file=str(path))

    # --- the lock --------------------------------------------------------------------------------

    @contextmanager
    def lock(self, env: str, *, lease_s: float = 300.0, force: bool = False) -> Iterator[LocalLease]:
        path = self._dir(env) / "lock.json"
        with os_errors(path.parent, "create the state directory"):
            path.parent.mkdir(parents=True, exist_ok=True)
        lease = acquire(env, path, lease_s, force, self.files)
        with held(lease, max(lease_s / 3, 0.05)):
            yield lease
