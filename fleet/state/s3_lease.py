"""The S3 store's lock: one object per environment, taken and renewed with conditional writes.

The lock is created with ``If-None-Match: *``; the holder renews its lease
with ``If-Match`` on its own ETag (so a holder that lost the lock finds out).
A lease's age is judged on S3's clock (the object's ``LastModified`` against
the ``Date`` of the answer), never by comparing two hosts' clocks; a holder
that is certainly dead (:mod:`fleet.state.identity`) is taken over at once,
an expired lease only when asked to, each with ``If-Match`` on the ETag that
was found (so two runs cannot both take it over).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import suppress

from fleet import audit
from fleet.errors import LockedError
from fleet.ports import LockInfo
from fleet.state.identity import holder_is_alive, holder_is_dead
from fleet.state.lease import decode_holder, decode_lock, encode_lock, locked, own_identity
from fleet.state.s3_objects import S3Objects, _call, _Missing, _Object, _PreconditionFailed


class S3Lease:
    """A lock held in S3; ``renew`` rewrites it under ``If-Match`` on the ETag this run wrote."""

    def __init__(self, store: S3Objects, env: str, info: LockInfo, etag: str, lease_s: float) -> None:
        self.store = store
        self.env = env
        self.info = info
        self.etag = etag
        self.lease_s = lease_s
        self._mutex = threading.Lock()
        self.released = False

    def renew(self) -> None:
        with self._mutex:
            if self.released:
                raise LockedError(self.env, "nobody (our lease was released)")
            info = LockInfo(
                self.info.owner,
                self.info.host,
                self.info.pid,
                self.info.acquired_at,
                time.time() + self.lease_s,
                self.info.run_id,
            )
            key = self.store._key(self.env, "lock.json")
            body = encode_lock(info, lease_s=self.lease_s, identity=own_identity())
            try:
                self.etag = self.store._put(key, body, if_match=self.etag)
            except (_PreconditionFailed, _Missing):
                found = self.store._get(key)
                if found is None or found.body != body:
                    raise LockedError(self.env, f"{holder_name(self.store, self.env)} (our lease was lost)") from None
                # The SDK retried a write that had already landed: the lock holds exactly what we wrote.
                self.etag = found.etag
            self.info = info

    def release(self) -> None:
        with self._mutex:
            if self.released:
                return
            self.released = True
            key = self.store._key(self.env, "lock.json")
            # If someone took it over after our lease expired, it is theirs now: leave it.
            with suppress(_PreconditionFailed, _Missing):
                _call(
                    "release lock",
                    lambda: self.store.client.delete_object(Bucket=self.store.bucket, Key=key, IfMatch=self.etag),
                )


def holder_name(store: S3Objects, env: str) -> str:
    """Who holds ENV's lock, for a message."""
    found = store._get(store._key(env, "lock.json"))
    if found is None:
        return "nobody"
    return decode_lock(found.body, file=store._url(store._key(env, "lock.json"))).describe()


def acquire(store: S3Objects, env: str, lease_s: float, force: bool, *, attempts: int = 3) -> S3Lease:
    """Take ENV's lock, or raise LockedError naming its holder; a lock that vanished mid-way is retried."""
    key = store._key(env, "lock.json")
    now = time.time()
    who = audit.actor()
    info = LockInfo(who["user"], who["host"], os.getpid(), now, now + lease_s, uuid.uuid4().hex)
    body = encode_lock(info, lease_s=lease_s, identity=own_identity())
    try:
        etag = store._put(key, body, if_none_match=True)
    except _PreconditionFailed:
        found = store._get(key)
        if found is None:
            if attempts <= 1:
                raise LockedError(env, "other runs taking and releasing it") from None
            return acquire(store, env, lease_s, force, attempts=attempts - 1)
        holder, identity, held_s = decode_holder(found.body, file=store._url(key))  # garbage: StateError
        expires_at = _expiry(holder, held_s, found, now)
        dead = holder_is_dead(identity, own_identity())
        alive = holder_is_alive(identity, own_identity())  # a live holder is never displaced
        if not (dead or (expires_at < now and force and not alive)):
            raise locked(env, holder, expires_at=expires_at, now=now, alive=alive) from None
        try:
            etag = store._put(key, body, if_match=found.etag)
        except (_PreconditionFailed, _Missing):
            raise LockedError(env, "another run that took over at the same time") from None
    # Read back: the lock must now be ours (also guards servers whose conditional writes are not atomic).
    current = store._get(key)
    if current is None or decode_lock(current.body, file=store._url(key)).run_id != info.run_id:
        raise LockedError(env, "another run that took it at the same time")
    return S3Lease(store, env, info, etag, lease_s)


def _expiry(holder: LockInfo, lease_s: float | None, found: _Object, now: float) -> float:
    """When the holder's lease runs out, on this host's clock, judged by S3's clock where S3 tells it."""
    if lease_s is None or not found.last_modified or not found.server_now:
        return holder.expires_at  # a lock of an older fleet: its writer's clock is all there is
    left = found.last_modified + lease_s - found.server_now
    return now + left

