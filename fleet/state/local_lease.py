"""The local store's lock: a lease file per environment, taken and renewed under a guard.

A lock names its holder's identity and lease expiry. A holder that is
certainly dead (:mod:`fleet.state.identity`) is displaced at once, an expired
lease only when asked to, and a live holder never; every read-check-write
happens under the lock file's guard, so two runs cannot both take it.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import replace
from pathlib import Path

from fleet import audit
from fleet.errors import LockedError, StateError
from fleet.ports import LockInfo
from fleet.state.disk import Files, atomic_write, guard, os_errors
from fleet.state.identity import Identity, holder_is_alive, holder_is_dead
from fleet.state.lease import decode_holder, encode_lock, locked, own_identity


class LocalLease:
    """A lock held in a file; ``renew`` fences every command on the lock still being ours."""

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
        with guard(self.path), os_errors(self.path, "renew the lock"):
            current = _read_lock(self.path)
            if current is None or current[0].run_id != self.token:
                holder = "nobody" if current is None else locked(self.env, current[0]).holder
                raise LockedError(self.env, f"{holder} (our lease was lost)")
            now = time.time()
            if self.info.expires_at - now > self.lease_s * 5 / 6:
                return
            self.info = replace(self.info, expires_at=now + self.lease_s)
            atomic_write(self.path, encode_lock(self.info, lease_s=self.lease_s, identity=own_identity()))

    def release(self) -> None:
        with guard(self.path), os_errors(self.path, "release the lock"):
            current = _read_lock(self.path)
            if current is not None and current[0].run_id == self.token:
                self.path.unlink(missing_ok=True)


def _read_lock(path: Path) -> tuple[LockInfo, Identity | None, float | None] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise StateError(f"cannot read lock ({err})", file=str(path)) from err
    return decode_holder(text, file=str(path))


def acquire(env: str, path: Path, lease_s: float, force: bool, files: Files) -> LocalLease:
    """Take ENV's lock at ``path`` (written through ``files``), or raise LockedError naming its holder."""
    now = time.time()
    token = uuid.uuid4().hex
    who = audit.actor()
    info = LockInfo(who["user"], who["host"], os.getpid(), now, now + lease_s, token)
    with guard(path), os_errors(path, "take the lock"):
        found = _read_lock(path)
        if found is not None:
            holder, identity, _ = found
            dead = holder_is_dead(identity, own_identity())
            alive = holder_is_alive(identity, own_identity())  # a live holder is never displaced
            expired = holder.expires_at < now
            if not (dead or (expired and force and not alive)):
                raise locked(env, holder, now=now, alive=alive)
        files.atomic_write(path, encode_lock(info, lease_s=lease_s, identity=own_identity()))
    return LocalLease(env, path, info, lease_s, token)
