"""Lock leases shared by every state store backend.

A lock is a lease, not a flag: the holder renews it while it works, and a
lock whose holder died stops blocking anyone once the lease expires (then
``--force-unlock`` takes it over). A background thread renews the lease
during long waits (a one-hour bake) so that a live run never loses its lock.

The holder is a random lease id (one per run) plus the kernel's identity of
its process (:mod:`fleet.state.identity`), never a hostname and a pid: a
holder that is certainly dead (same machine and PID namespace, its process
gone or its pid reused; or the machine rebooted) is recognised at once by
every store; a live holder is never displaced.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Protocol

from fleet.errors import FleetError, LockedError, StateError
from fleet.ports import LockInfo, Request
from fleet.state.identity import Identity, current


class Renewable(Protocol):
    def renew(self) -> None: ...


class Releasable(Renewable, Protocol):
    def release(self) -> None: ...


_IDENTITY: Identity | None = None


def own_identity() -> Identity:
    """This process's identity (read once: it does not change while the process lives)."""
    global _IDENTITY
    if _IDENTITY is None or _IDENTITY.pid != os.getpid():
        _IDENTITY = current()
    return _IDENTITY


def encode_lock(info: LockInfo, *, lease_s: float | None = None, identity: Identity | None = None) -> str:
    body: dict[str, object] = {
        "owner": info.owner,
        "host": info.host,
        "pid": info.pid,
        "acquired_at": info.acquired_at,
        "expires_at": info.expires_at,
        "token": info.run_id,
    }
    if lease_s is not None:
        body["lease_s"] = lease_s
    if identity is not None:
        body["identity"] = identity.to_json()
    return json.dumps(body, sort_keys=True) + "\n"


def decode_lock(text: str, *, file: str) -> LockInfo:
    return decode_holder(text, file=file)[0]


def decode_holder(text: str, *, file: str) -> tuple[LockInfo, Identity | None, float | None]:
    """The lock's holder, its process identity (None in a lock of an older fleet) and its lease length."""
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        info = LockInfo(
            owner=str(raw["owner"]),
            host=str(raw["host"]),
            pid=int(raw["pid"]),
            acquired_at=float(raw["acquired_at"]),
            expires_at=float(raw["expires_at"]),
            run_id=str(raw.get("token", "")),
        )
        lease = raw.get("lease_s")
        lease_s = float(lease) if isinstance(lease, (int, float)) and not isinstance(lease, bool) else None
        return info, Identity.from_json(raw.get("identity"), info.pid), lease_s
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise StateError(f"lock file is unreadable ({err}); remove it by hand once no run holds it", file=file) from err


def describe_holder(info: LockInfo, expires_at: float | None = None, *, now: float | None = None) -> str:
    """``user@host (pid N, lease L) until HH:MM:SS UTC (in 4m10s)``: who holds it and until when."""
    expires = info.expires_at if expires_at is None else expires_at
    now = time.time() if now is None else now
    lease = f", lease {info.run_id[:8]}" if info.run_id else ""
    who = f"{info.owner}@{info.host} (pid {info.pid}){lease}"
    when = time.strftime("%H:%M:%S UTC", time.gmtime(expires))
    left = expires - now
    if left > 0:
        minutes, seconds = divmod(int(left + 0.5), 60)
        return f"{who}; its lease expires at {when} (in {minutes}m{seconds:02d}s)"
    return f"{who}; its lease expired at {when}"


def locked(
    env: str, info: LockInfo, *, expires_at: float | None = None, now: float | None = None, alive: bool = False
) -> LockedError:
    """The error for a lock held by ``info``: who, until when, and what to run."""
    now = time.time() if now is None else now
    expires = info.expires_at if expires_at is None else expires_at
    expired = expires < now and not alive
    holder = describe_holder(info, expires, now=now)
    if alive:
        holder += (
            f"; its process is alive on this machine: wait for it, or ask it to roll back with `fleet rollback {env}`"
        )
    elif not expired:
        holder += f"; if that run is dead, `fleet resume {env} --force-unlock` takes over once its lease has expired"
    return LockedError(env, holder, expired=expired)


def encode_request(request: Request) -> str:
    return (
        json.dumps({"kind": request.kind, "reason": request.reason, "by": request.by, "at": request.at}, sort_keys=True)
        + "\n"
    )


def decode_request(text: str, *, file: str) -> Request:
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("kind") not in ("rollback", "abort"):
            raise ValueError("not a rollback or abort request")
        return Request(str(raw["kind"]), str(raw["reason"]), str(raw["by"]), float(raw["at"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise StateError(f"request file is unreadable ({err}); remove it by hand", file=file) from err


class KeepAlive:
    """Renews a lease every ``interval_s`` seconds until the block ends."""

    def __init__(self, lease: Renewable, *, interval_s: float) -> None:
        self.lease = lease
        self.interval_s = interval_s
        self.lost: FleetError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-lease", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.lease.renew()
            except LockedError as err:
                self.lost = err
                return
            except (FleetError, OSError):
                # A failed renewal is retried at the next interval: the lease is only lost once it expires,
                # and the engine's own renewal before every command stops a run that lost it.
                continue

    def __enter__(self) -> KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def held(lease: Releasable, keepalive_s: float) -> Iterator[None]:
    """Keep ``lease`` renewed while the block runs, then release it without masking the block's own error."""
    try:
        with KeepAlive(lease, interval_s=keepalive_s):
            yield
    except BaseException:
        # The error that stopped the run is the one to report; a lock that cannot be released (a read-only
        # directory, a lost network) expires with its lease.
        with suppress(FleetError, OSError):
            lease.release()
        raise
    lease.release()
