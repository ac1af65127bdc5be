"""State in S3, for pipelines whose runners share nothing but a bucket.

Layout under ``s3://bucket/prefix``, one folder per environment::

    <prefix>/<env>/state.json                the current state
    <prefix>/<env>/history/<seq:010d>.json   one object per history record
    <prefix>/<env>/lock.json                 the lock: lease id, holder's identity, lease length
    <prefix>/.rehearsal/<name>               a rehearsal's own files (its marker, its simulated world)

S3 has no rename and no append, so the guarantees of the local store are
rebuilt from conditional writes (supported by S3 since 2024):

* A history record is written *before* the state that counts it (the state's
  ``seq``); a record beyond ``seq`` is the torn tail of a crashed commit, is
  ignored by readers and replaced by the next commit.
* The state is written with ``If-Match`` on the ETag it was read with (or
  ``If-None-Match: *`` for a new environment), so two writers cannot
  interleave: the second gets a conflict instead of silently winning.
* The state carries the digest of the last record it counts, and each record
  the digest of the one before it: every load lists the history (one request;
  records already checked are known by their ETag) and refuses a gap or a
  damaged record before anything is done.
* A write the SDK retried after it had landed comes back as a conflict; the
  store reads the object back and takes it as written when it holds exactly
  what was sent, instead of reporting a spurious conflict.
* The lock is created with ``If-None-Match: *``; the holder renews its lease
  with ``If-Match`` on its own ETag (so a holder that lost the lock finds out).
  A lease's age is judged on S3's clock (the object's ``LastModified`` against
  the ``Date`` of the answer), never by comparing two hosts' clocks; a holder
  that is certainly dead (:mod:`fleet.state.identity`) is taken over at once,
  an expired lease only when asked to, each with ``If-Match`` on the ETag that
  was found (so two runs cannot both take it over).

boto3 is imported only in this module, and only when an ``s3://`` location is
opened. Every botocore error leaves as a ``fleet.errors`` exception.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from fleet import audit
from fleet.domain.machine import EnvironmentState
from fleet.errors import AccessDenied, ConfigError, LockedError, ProviderError, StateError, TransientError
from fleet.ports import LockInfo, Record, Request
from fleet.state.codec import (
    GENESIS,
    DamagedRecord,
    Framed,
    StateMeta,
    check_owner,
    dump_state,
    frame_record,
    load_state_meta,
    record_line,
    unframe,
)
from fleet.state.identity import holder_is_alive, holder_is_dead
from fleet.state.lease import (
    decode_holder,
    decode_lock,
    decode_request,
    encode_lock,
    encode_request,
    held,
    locked,
    own_identity,
)
from fleet.state.local import REPAIRED, explains_gap

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ENDPOINT_VARIABLES = ("FLEET_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")
_THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded", "TooManyRequests", "RequestTimeout"}
)
_T = TypeVar("_T")


class _PreconditionFailed(Exception):
    """A conditional write lost: the object is not what the writer expected."""


class _Missing(Exception):
    """The key does not exist."""


@dataclass(frozen=True)
class _Object:
    body: str
    etag: str
    last_modified: float = 0.0
    """When S3 last wrote the object, on S3's clock (epoch seconds)."""
    server_now: float = 0.0
    """S3's clock when it answered (its ``Date`` header); 0 when it did not say."""


def _call(what: str, call: Callable[[], _T]) -> _T:
    """Run one S3 request; turn botocore's errors into fleet's (or the two private outcomes above)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as err:
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = str(error.get("Message", "")) or code
        if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
            raise _PreconditionFailed(message) from err
        if code in ("NoSuchKey", "404", "NotFound"):
            raise _Missing(message) from err
        if code == "NoSuchBucket":
            raise ConfigError(f"the bucket does not exist ({message})", key=what) from err
        if code in _THROTTLING or status == 429 or status >= 500:
            raise TransientError(f"S3 {what}: {code or status}: {message}", retry_after=1.0) from err
        if code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch") or (
            status == 403
        ):
            raise AccessDenied(f"S3 {what}: {code}: {message}") from err
        raise ProviderError(f"S3 {what}: {code or status}: {message}") from err
    except BotoCoreError as err:
        raise TransientError(f"S3 {what}: {err}", retry_after=1.0) from err


def _client(endpoint_url: str | None) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


class S3Lease:
    """A lock held in S3; ``renew`` rewrites it under ``If-Match`` on the ETag this run wrote."""

    def __init__(self, store: S3StateStore, env: str, info: LockInfo, etag: str, lease_s: float) -> None:
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
                    raise LockedError(self.env, f"{self.store._holder(self.env)} (our lease was lost)") from None
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


class S3StateStore:
    """State, history and locks under ``s3://bucket/prefix``; ``rehearsal`` as for the local store."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: S3Client | None = None,
        endpoint_url: str | None = None,
        rehearsal: bool | None = None,
    ) -> None:
        if not bucket:
            raise ConfigError("an S3 state location needs a bucket (s3://bucket/prefix)", key="state")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.rehearsal = rehearsal
        self._client = client
        self._endpoint = endpoint_url
        self._etags: dict[str, str | None] = {}
        """The ETag of each environment's state as this store last read or wrote it (None: absent)."""
        self._checked: dict[tuple[str, str], Framed] = {}
        """History records already read and checked, by key and ETag: a load re-reads only what changed."""
        self._heads: dict[str, tuple[int, str, list[Record]]] = {}

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None, rehearsal: bool | None = None) -> S3StateStore:
        """``s3://bucket/prefix``; the endpoint comes from FLEET_S3_ENDPOINT_URL or AWS_ENDPOINT_URL."""
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ConfigError(f"{url!r} is not an S3 location (expected s3://bucket/prefix)", key="state")
        endpoint = endpoint_url or next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
        return cls(parsed.netloc, parsed.path, endpoint_url=endpoint, rehearsal=rehearsal)

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = _client(self._endpoint)
        return self._client

    # --- plumbing ----------------------------------------------------------------

    def _key(self, env: str, name: str) -> str:
        return f"{self.prefix}/{env}/{name}" if self.prefix else f"{env}/{name}"

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _get(self, key: str) -> _Object | None:
        try:
            response = _call("get " + key, lambda: self.client.get_object(Bucket=self.bucket, Key=key))
        except _Missing:
            return None
        raw = _call("read " + key, response["Body"].read)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise StateError(f"not UTF-8 text ({err})", file=self._url(key)) from err
        modified = response.get("LastModified")
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        server_now = 0.0
        if date:
            with suppress(TypeError, ValueError):
                server_now = parsedate_to_datetime(date).timestamp()
        return _Object(body, response["ETag"], modified.timestamp() if modified is not None else 0.0, server_now)

    def _put(self, key: str, body: str, *, if_match: str | None = None, if_none_match: bool = False) -> str:
        """Write ``body``; a conflict is re-read, and a write the SDK retried after it landed counts as done."""
        data = body.encode("utf-8")
        conditions: dict[str, Any] = {}
        if if_match is not None:
            conditions["IfMatch"] = if_match
        if if_none_match:
            conditions["IfNoneMatch"] = "*"
        try:
            response = _call(
                "put " + key,
                lambda: self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, ContentType="application/json", **conditions
                ),
            )
        except _PreconditionFailed:
            if not conditions:
                raise
            found = self._get(key)
            if found is not None and found.body == body:
                return found.etag
            raise
        return response["ETag"]

    def _holder(self, env: str) -> str:
        found = self._get(self._key(env, "lock.json"))
        if found is None:
            return "nobody"
        return decode_lock(found.body, file=self._url(self._key(env, "lock.json"))).describe()

    # --- a rehearsal's own files ----------------------------------------------------

    def _aside_key(self, name: str) -> str:
        return f"{self.prefix}/.rehearsal/{name}" if self.prefix else f".rehearsal/{name}"

    def read_aside(self, name: str) -> str | None:
        found = self._get(self._aside_key(name))
        return None if found is None else found.body

    def write_aside(self, name: str, text: str) -> None:
        self._put(self._aside_key(name), text)

    def aside_url(self, name: str) -> str:
        return self._url(self._aside_key(name))

    # --- the StateStore protocol ---------------------------------------------------

    def _read_state(self, env: str) -> tuple[EnvironmentState, StateMeta, _Object] | None:
        key = self._key(env, "state.json")
        found = self._get(key)
        if found is None:
            return None
        state, meta = load_state_meta(found.body, file=self._url(key))
        if state.env != env:
            raise StateError(f"holds environment {state.env!r}, not {env!r}", file=self._url(key), key="env")
        if meta.rehearsal is None:
            meta = replace(meta, rehearsal=False)
        return state, meta, found

    def is_rehearsal(self, env: str) -> bool | None:
        found = self._read_state(env)
        return None if found is None else bool(found[1].rehearsal)

    def _check_owner(self, env: str, meta: StateMeta) -> None:
        url = self._url(self._key(env, "state.json"))
        check_owner(env, meta, want=self.rehearsal, location=self.location, file=url, place="location")

    def load(self, env: str) -> EnvironmentState | None:
        found = self._read_state(env)
        if found is None:
            self._etags[env] = None
            return None
        state, meta, obj = found
        self._check_owner(env, meta)
        self._validate(env, state, meta)
        self._etags[env] = obj.etag
        return state

    def _listing(self, env: str) -> dict[int, tuple[str, str]]:
        """seq -> (key, ETag) of every history object."""
        prefix = self._key(env, "history/")
        found: dict[int, tuple[str, str]] = {}
        paginator = self.client.get_paginator("list_objects_v2")

        def listing() -> None:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :].removesuffix(".json")
                    if name.isdigit():
                        found[int(name)] = (item["Key"], str(item.get("ETag", "")))

        _call("list " + prefix, listing)
        return found

    def _record(self, key: str, etag: str) -> Framed:
        cached = self._checked.get((key, etag))
        if cached is not None:
            return cached
        obj = self._get(key)
        if obj is None:
            raise DamagedRecord("it disappeared while being read")
        framed = unframe(obj.body, file=self._url(key))
        self._checked[(key, obj.etag)] = framed
        return framed

    def _scan(self, env: str, counted: int) -> tuple[list[Record], str, str | None]:
        """The good prefix of records 1..counted, the digest it ends with, and what stopped it (None: nothing)."""
        listing = self._listing(env)
        records: list[Record] = []
        prev = GENESIS
        expected = 1
        while expected <= counted:
            entry = listing.get(expected)
            if entry is None:
                later = [seq for seq in listing if expected < seq <= counted]
                if later:
                    framed = self._safe_record(*listing[min(later)])
                    if framed is not None and explains_gap(framed, expected) and framed.prev == prev:
                        records.append(framed.record)
                        prev = framed.digest or GENESIS
                        expected = framed.seq + 1
                        continue
                return records, prev, f"record {expected} is missing"
            try:
                framed = self._record(*entry)
            except DamagedRecord as err:
                return records, prev, f"record {expected} ({self._url(entry[0])}) is damaged: {err}"
            if framed.seq != expected:
                return records, prev, f"{self._url(entry[0])} holds record {framed.seq}, not {expected}"
            if framed.digest is not None and framed.prev != prev:
                return records, prev, f"record {expected} does not follow record {expected - 1}"
            records.append(framed.record)
            prev = framed.digest or GENESIS
            expected += 1
        return records, prev, None

    def _safe_record(self, key: str, etag: str) -> Framed | None:
        try:
            return self._record(key, etag)
        except DamagedRecord:
            return None

    def _validate(self, env: str, state: EnvironmentState, meta: StateMeta) -> list[Record]:
        records, head, damage = self._scan(env, state.seq)
        if damage is None and meta.head is not None and head != meta.head:
            damage = f"record {state.seq} is not the one the state counts (its digest differs)"
        if damage is not None:
            last = records[-1] if records else None
            good = "no record is good" if last is None else f"the last good record is {last.seq} ({last.event})"
            raise StateError(
                f"history is damaged: {damage}; {good}, the state counts {state.seq}. Nothing was done; "
                f"keep the damaged records aside and go on from the last good one with: fleet state repair {env}",
                file=self._url(self._key(env, "history/")),
            )
        self._heads[env] = (state.seq, head, records)
        return records

    def commit(self, env: str, state: EnvironmentState, records: Sequence[Record]) -> None:
        before = records[0].seq - 1 if records else state.seq
        found = self._read_state(env)
        if found is None:
            if before != 0:
                raise StateError(f"no state to follow (this commit follows record {before})",
                                 file=self._url(self._key(env, "state.json")))
            prev, rehearsal = GENESIS, bool(self.rehearsal)
        else:
            current, meta, _ = found
            self._check_owner(env, meta)
            if current.seq != before:
                self._etags.pop(env, None)
                raise LockedError(env, f"another writer (the state is at record {current.seq}, not {before})")
            cached = self._heads.get(env)
            if cached is not None and cached[0] == current.seq and (meta.head is None or cached[1] == meta.head):
                prev = cached[1]
            else:
                self._validate(env, current, meta)
                prev = self._heads[env][1]
            rehearsal = bool(meta.rehearsal) if self.rehearsal is None else self.rehearsal
        digest = prev if before == state.seq else GENESIS
        for record in records:
            framed, prev = frame_record(record, prev=prev, rehearsal=rehearsal)
            self._write_record(env, record, record_line(framed))
            if record.seq == state.seq:
                digest = prev
        key = self._key(env, "state.json")
        expected = self._etags.get(env)
        body = dump_state(state, rehearsal=rehearsal, head=digest)
        try:
            if expected is None:
                etag = self._put(key, body, if_none_match=True)
            else:
                etag = self._put(key, body, if_match=expected)
        except (_PreconditionFailed, _Missing):
            self._etags.pop(env, None)
            raise LockedError(env, "another writer (the state changed since this run read it)") from None
        self._etags[env] = etag
        self._heads[env] = (state.seq, digest, [])

    def _write_record(self, env: str, record: Record, body: str | None = None) -> None:
        if body is None:
            body = record_line(frame_record(record, prev=GENESIS, rehearsal=bool(self.rehearsal))[0])
        key = self._key(env, f"history/{record.seq:010d}.json")
        try:
            self._put(key, body, if_none_match=True)
            return
        except _PreconditionFailed:
            pass
        # The record exists. If no committed state counts it, it is the torn tail of a crashed
        # commit and this commit replaces it; if one does, another writer got here first.
        existing = self._get(key)
        if existing is not None and existing.body == body:
            return
        current = self._read_state(env)
        counted = 0 if current is None else current[0].seq
        if existing is None or counted >= record.seq:
            raise LockedError(env, f"another writer (history record {record.seq} is already committed)")
        try:
            self._put(key, body, if_match=existing.etag)
        except (_PreconditionFailed, _Missing):
            raise LockedError(env, f"another writer (history record {record.seq} changed under us)") from None

    def history(self, env: str) -> list[Record]:
        found = self._read_state(env)
        if found is None:
            return []
        state, meta, _ = found
        return list(self._validate(env, state, meta))

    def repair(self, env: str, actor: dict[str, str]) -> dict[str, object]:
        """Copy damaged records aside, remove them, and go on from the last good record (with the lock held)."""
        found = self._read_state(env)
        if found is None:
            raise StateError("there is no state to repair the history against",
                             file=self._url(self._key(env, "state.json")))
        state, meta, obj = found
        records, head, damage = self._scan(env, state.seq)
        if damage is None and meta.head is not None and head != meta.head:
            damage = f"record {state.seq} is not the one the state counts"
        folder = self._url(self._key(env, "history/"))
        if damage is None:
            return {"repaired": False, "file": folder, "records": len(records)}
        kept = records[-1].seq if records else 0
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self._key(env, f"damaged-{stamp}/")
        for seq, (key, _) in sorted(self._listing(env).items()):
            if seq <= kept:
                continue
            self._move(key, aside + key.rsplit("/", 1)[-1])
        record = Record(
            seq=state.seq + 1,
            at=time.time(),
            event=REPAIRED,
            phase=None if state.cutover is None else state.cutover.phase.value,
            weights=state.weights,
            detail={"lost_from": kept + 1, "lost_to": state.seq, "damage": damage, "aside": self._url(aside)},
            actor=actor,
        )
        framed, digest = frame_record(record, prev=head, rehearsal=bool(meta.rehearsal))
        self._put(self._key(env, f"history/{record.seq:010d}.json"), record_line(framed))
        repaired = replace(state, seq=record.seq)
        try:
            self._put(self._key(env, "state.json"), dump_state(repaired, rehearsal=bool(meta.rehearsal), head=digest),
                      if_match=obj.etag)
        except (_PreconditionFailed, _Missing):
            raise LockedError(env, "another writer (the state changed during the repair)") from None
        self._heads.pop(env, None)
        return {"repaired": True, "file": folder, "aside": self._url(aside), "damage": damage, "kept": kept,
                "lost": max(0, state.seq - kept)}

    def _move(self, key: str, target: str) -> None:
        def copy() -> None:
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": key})

        def delete() -> None:
            self.client.delete_object(Bucket=self.bucket, Key=key)

        _call("copy " + key, copy)
        _call("delete " + key, delete)

    def environments(self) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        names: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")

        def listing() -> None:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    names.append(common["Prefix"][len(base) :].rstrip("/"))

        _call("list " + (base or "/"), listing)
        return [name for name in sorted(names) if self._exists(self._key(name, "state.json"))]

    def _exists(self, key: str) -> bool:
        try:
            _call("head " + key, lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except _Missing:
            return False
        return True

    def post_request(self, env: str, request: Request) -> None:
        self._put(self._key(env, "request.json"), encode_request(request))

    def has_request(self, env: str) -> bool:
        return self._exists(self._key(env, "request.json"))

    def take_request(self, env: str) -> Request | None:
        key = self._key(env, "request.json")
        found = self._get(key)
        if found is None:
            return None
        try:
            _call("take " + key, lambda: self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=found.etag))
        except (_PreconditionFailed, _Missing):
            return None
        return decode_request(found.body, file=self._url(key))

    @contextmanager
    def lock(self, env: str, *, lease_s: float = 300.0, force: bool = False) -> Iterator[S3Lease]:
        lease = self._acquire(env, lease_s, force)
        with held(lease, max(lease_s / 3, 0.05)):
            yield lease

    def _acquire(self, env: str, lease_s: float, force: bool, *, attempts: int = 3) -> S3Lease:
        key = self._key(env, "lock.json")
        now = time.time()
        who = audit.actor()
        info = LockInfo(who["user"], who["host"], os.getpid(), now, now + lease_s, uuid.uuid4().hex)
        body = encode_lock(info, lease_s=lease_s, identity=own_identity())
        try:
            etag = self._put(key, body, if_none_match=True)
        except _PreconditionFailed:
            found = self._get(key)
            if found is None:
                if attempts <= 1:
                    raise LockedError(env, "other runs taking and releasing it") from None
                return self._acquire(env, lease_s, force, attempts=attempts - 1)
            holder, identity, held_s = decode_holder(found.body, file=self._url(key))  # garbage: StateError
            expires_at = _expiry(holder, held_s, found, now)
            dead = holder_is_dead(identity, own_identity())
            alive = holder_is_alive(identity, own_identity())  # a live holder is never displaced
            if not (dead or (expires_at < now and force and not alive)):
                raise locked(env, holder, expires_at=expires_at, now=now, alive=alive) from None
            try:
                etag = self._put(key, body, if_match=found.etag)
            except (_PreconditionFailed, _Missing):
                raise LockedError(env, "another run that took over at the same time") from None
        # Read back: the lock must now be ours (also guards servers whose conditional writes are not atomic).
        current = self._get(key)
        if current is None or decode_lock(current.body, file=self._url(key)).run_id != info.run_id:
            raise LockedError(env, "another run that took it at the same time")
        return S3Lease(self, env, info, etag, lease_s)


def _expiry(holder: LockInfo, lease_s: float | None, found: _Object, now: float) -> float:
    """When the holder's lease runs out, on this host's clock, judged by S3's clock where S3 tells it."""
    if lease_s is None or not found.last_modified or not found.server_now:
        return holder.expires_at  # a lock of an older fleet: its writer's clock is all there is
    left = found.last_modified + lease_s - found.server_now
    return now + left

