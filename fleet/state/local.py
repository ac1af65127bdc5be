"""The default state store: a local directory, no server.

Layout, one folder per environment::

    <root>/<env>/state.json      the current state (atomic: temp file, fsync, rename)
    <root>/<env>/history.jsonl   one JSON record per line, appended and fsynced first
    <root>/<env>/lock.json       the lock: owner, host, pid, lease expiry

History records are appended before the state that counts them is renamed
into place, and ``state.seq`` says how many are committed: a crash between
the two leaves a tail that readers ignore and the next commit supersedes.
Nothing here ever overwrites a file it could not read.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fleet import audit
from fleet.domain.machine import EnvironmentState
from fleet.errors import LockedError, StateError
from fleet.ports import LockInfo, Record, Request
from fleet.state.codec import decode_record, dump_state, encode_record, load_state
from fleet.state.lease import KeepAlive, decode_lock, decode_request, encode_lock, encode_request


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
def _guard(lock_path: Path) -> Iterator[None]:
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
def _os_errors(path: Path, doing: str) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        raise StateError(f"cannot {doing} ({err.strerror or err})", file=str(path)) from err


class LocalLease:
    def __init__(self, env: str, path: Path, info: LockInfo, lease_s: float, token: str) -> None:
        self.env = env
        self.path = path
        self.info = info
        self.lease_s = lease_s
        self.token = token

    def renew(self) -> None:
        """Check that the lock is still ours; push its expiry out once a sixth of the lease has passed.

        The engine renews before every command, as a fence: a run that lost its
        lock must not act. The check is a read; the write (with two fsyncs) is
        only needed when the expiry on disk has come closer, so a lease written
        less than a sixth of its length ago is left as it is. With the
        keep-alive renewing every third of the lease, at least half of it is
        always left, so one failed keep-alive renewal never lets it expire.
        """
        with _guard(self.path), _os_errors(self.path, "renew the lock"):
            current = _read_lock(self.path)
            if current is None or current.run_id != self.token:
                holder = "nobody" if current is None else current.describe()
                raise LockedError(self.env, f"{holder} (our lease was lost)")
            now = time.time()
            if self.info.expires_at - now > self.lease_s * 5 / 6:
                return
            self.info = LockInfo(
                self.info.owner, self.info.host, self.info.pid, self.info.acquired_at, now + self.lease_s, self.token
            )
            atomic_write(self.path, encode_lock(self.info))

    def release(self) -> None:
        with _guard(self.path), _os_errors(self.path, "release the lock"):
            current = _read_lock(self.path)
            if current is not None and current.run_id == self.token:
                self.path.unlink(missing_ok=True)


def _read_lock(path: Path) -> LockInfo | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StateError(f"cannot read lock ({err.strerror})", file=str(path)) from err
    return decode_lock(text, file=str(path))


def _holder_is_dead(holder: LockInfo) -> bool:
    """A holder on this host whose process is gone can never renew or release its lock."""
    if holder.host != audit.host() or holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LocalStateStore:
    """State, history and locks in a directory (default ``.fleet/state``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def _dir(self, env: str) -> Path:
        return self.root / env

    def load(self, env: str) -> EnvironmentState | None:
        path = self._dir(env) / "state.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            raise StateError(f"cannot read state ({err})", file=str(path)) from err
        state = load_state(text, file=str(path))
        if state.env != env:
            raise StateError(f"holds environment {state.env!r}, not {env!r}", file=str(path), key="env")
        return state

    def commit(self, env: str, state: EnvironmentState, records: Sequence[Record]) -> None:
        folder = self._dir(env)
        with _os_errors(folder, "save the state"):
            self._commit(folder, state, records)

    def _commit(self, folder: Path, state: EnvironmentState, records: Sequence[Record]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if records:
            lines = "".join(json.dumps(encode_record(r), sort_keys=True) + "\n" for r in records)
            with open(folder / "history.jsonl", "a", encoding="utf-8") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
        atomic_write(folder / "state.json", dump_state(state))

    def history(self, env: str) -> list[Record]:
        state = self.load(env)
        if state is None:
            return []
        path = self._dir(env) / "history.jsonl"
        by_seq: dict[int, Record] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    continue  # a torn last line from a crash mid-append; the state never counted it
                raise StateError(f"line {number} is not valid JSON", file=str(path)) from None
            record = decode_record(raw, file=f"{path}:{number}")
            if record.seq <= state.seq:
                by_seq[record.seq] = record
        return [by_seq[k] for k in sorted(by_seq)]

    def environments(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "state.json").is_file())

    def post_request(self, env: str, request: Request) -> None:
        path = self._dir(env) / "request.json"
        with _os_errors(path, "leave the request"):
            atomic_write(path, encode_request(request))

    def has_request(self, env: str) -> bool:
        return (self._dir(env) / "request.json").exists()

    def take_request(self, env: str) -> Request | None:
        path = self._dir(env) / "request.json"
        lock_path = self._dir(env) / "lock.json"
        if not path.exists():
            return None
        with _guard(lock_path), _os_errors(path, "take the request"):
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
            path.unlink()
        return decode_request(text, file=str(path))

    @contextmanager
    def lock(self, env: str, *, lease_s: float = 300.0, force: bool = False) -> Iterator[LocalLease]:
        path = self._dir(env) / "lock.json"
        with _os_errors(path.parent, "create the state directory"):
            path.parent.mkdir(parents=True, exist_ok=True)
        lease = self._acquire(env, path, lease_s, force)
        try:
            with KeepAlive(lease, interval_s=max(lease_s / 3, 0.05)):
                yield lease
        finally:
            lease.release()

    def _acquire(self, env: str, path: Path, lease_s: float, force: bool) -> LocalLease:
        now = time.time()
        token = uuid.uuid4().hex
        who = audit.actor()
        info = LockInfo(who["user"], who["host"], os.getpid(), now, now + lease_s, token)
        with _guard(path), _os_errors(path, "take the lock"):
            holder = _read_lock(path)
            if holder is not None:
                dead = _holder_is_dead(holder)
                expired = dead or holder.expires_at < now
                if not (expired and (force or dead)):
                    raise LockedError(env, holder.describe(), expired=expired)
            atomic_write(path, encode_lock(info))
        return LocalLease(env, path, info, lease_s, token)
