"""Lock leases shared by every state store backend.

A lock is a lease, not a flag: the holder renews it while it works, and a
lock whose holder died stops blocking anyone once the lease expires (then
``--force-unlock`` takes it over). A background thread renews the lease
during long waits (a one-hour bake) so that a live run never loses its lock.
"""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import Protocol

from fleet.errors import FleetError, LockedError, StateError
from fleet.ports import LockInfo, Request


class Renewable(Protocol):
    def renew(self) -> None: ...


def encode_lock(info: LockInfo) -> str:
    return (
        json.dumps(
            {
                "owner": info.owner,
                "host": info.host,
                "pid": info.pid,
                "acquired_at": info.acquired_at,
                "expires_at": info.expires_at,
                "token": info.run_id,
            },
            sort_keys=True,
        )
        + "\n"
    )


def decode_lock(text: str, *, file: str) -> LockInfo:
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        return LockInfo(
            owner=str(raw["owner"]),
            host=str(raw["host"]),
            pid=int(raw["pid"]),
            acquired_at=float(raw["acquired_at"]),
            expires_at=float(raw["expires_at"]),
            run_id=str(raw.get("token", "")),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise StateError(f"lock file is unreadable ({err}); remove it by hand once no run holds it", file=file) from err


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
