"""State in S3, for pipelines whose runners share nothing but a bucket.

Layout under ``s3://bucket/prefix``, one folder per environment::

    <prefix>/<env>/state.json                the current state
    <prefix>/<env>/history/<seq:010d>.json   one object per history record
    <prefix>/<env>/lock.json                 the lock: owner, host, pid, lease expiry, token

S3 has no rename and no append, so the guarantees of the local store are
rebuilt from conditional writes (supported by S3 since 2024):

* A history record is written *before* the state that counts it (the state's
  ``seq``); a record beyond ``seq`` is the torn tail of a crashed commit, is
  ignored by readers and replaced by the next commit.
* The state is written with ``If-Match`` on the ETag it was read with (or
  ``If-None-Match: *`` for a new environment), so two writers cannot
  interleave: the second gets a conflict instead of silently winning.
* The lock is created with ``If-None-Match: *``; the holder renews its lease
  with ``If-Match`` on its own ETag (so a holder that lost the lock finds out),
  and an expired lease is taken over, only when asked to, with ``If-Match`` on
  the ETag that was found expired (so two runs cannot both take it over).

boto3 is imported only in this module, and only when an ``s3://`` location is
opened. Every botocore error leaves as a ``fleet.errors`` exception.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from fleet import audit
from fleet.domain.machine import EnvironmentState
from fleet.errors import AccessDenied, ConfigError, LockedError, ProviderError, StateError, TransientError
from fleet.ports import LockInfo, Record, Request
from fleet.state.codec import decode_record, dump_state, encode_record, load_state
from fleet.state.lease import KeepAlive, decode_lock, decode_request, encode_lock, encode_request

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
            try:
                self.etag = self.store._put(key, encode_lock(info), if_match=self.etag)
            except (_PreconditionFailed, _Missing):
                found = self.store._get(key)
                if found is None or found.body != encode_lock(info):
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
    """State, history and locks under ``s3://bucket/prefix``."""

    def __init__(
        self, bucket: str, prefix: str = "", *, client: S3Client | None = None, endpoint_url: str | None = None
    ) -> None:
        if not bucket:
            raise ConfigError("an S3 state location needs a bucket (s3://bucket/prefix)", key="state")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client
        self._endpoint = endpoint_url
        self._etags: dict[str, str | None] = {}
        """The ETag of each environment's state as this store last read or wrote it (None: absent)."""

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3StateStore:
        """``s3://bucket/prefix``; the endpoint comes from FLEET_S3_ENDPOINT_URL or AWS_ENDPOINT_URL."""
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ConfigError(f"{url!r} is not an S3 location (expected s3://bucket/prefix)", key="state")
        endpoint = endpoint_url or next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
        return cls(parsed.netloc, parsed.path, endpoint_url=endpoint)

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
        return _Object(body, response["ETag"])

    def _put(self, key: str, body: str, *, if_match: str | None = None, if_none_match: bool = False) -> str:
        data = body.encode("utf-8")
        conditions: dict[str, Any] = {}
        if if_match is not None:
            conditions["IfMatch"] = if_match
        if if_none_match:
            conditions["IfNoneMatch"] = "*"
        response = _call(
            "put " + key,
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/json", **conditions
            ),
        )
        return response["ETag"]

    def _holder(self, env: str) -> str:
        found = self._get(self._key(env, "lock.json"))
        if found is None:
            return "nobody"
        return decode_lock(found.body, file=self._url(self._key(env, "lock.json"))).describe()

    # --- the StateStore protocol ---------------------------------------------------

    def load(self, env: str) -> EnvironmentState | None:
        key = self._key(env, "state.json")
        found = self._get(key)
        if found is None:
            self._etags[env] = None
            return None
        state = load_state(found.body, file=self._url(key))
        if state.env != env:
            raise StateError(f"holds environment {state.env!r}, not {env!r}", file=self._url(key), key="env")
        self._etags[env] = found.etag
        return state

    def commit(self, env: str, state: EnvironmentState, records: Sequence[Record]) -> None:
        for record in records:
            self._write_record(env, record)
        key = self._key(env, "state.json")
        expected = self._etags.get(env)
        try:
            if expected is None:
                etag = self._put(key, dump_state(state), if_none_match=True)
            else:
                etag = self._put(key, dump_state(state), if_match=expected)
        except (_PreconditionFailed, _Missing):
            self._etags.pop(env, None)
            raise LockedError(env, "another writer (the state changed since this run read it)") from None
        self._etags[env] = etag

    def _write_record(self, env: str, record: Record) -> None:
        key = self._key(env, f"history/{record.seq:010d}.json")
        body = json.dumps(encode_record(record), sort_keys=True) + "\n"
        try:
            self._put(key, body, if_none_match=True)
            return
        except _PreconditionFailed:
            pass
        # The record exists. If no committed state counts it, it is the torn tail of a crashed
        # commit and this commit replaces it; if one does, another writer got here first.
        existing = self._get(key)
        current = self._get(self._key(env, "state.json"))
        counted = 0 if current is None else load_state(current.body, file=self._url(self._key(env, "state.json"))).seq
        if existing is None or counted >= record.seq:
            raise LockedError(env, f"another writer (history record {record.seq} is already committed)")
        try:
            self._put(key, body, if_match=existing.etag)
        except (_PreconditionFailed, _Missing):
            raise LockedError(env, f"another writer (history record {record.seq} changed under us)") from None

    def history(self, env: str) -> list[Record]:
        state = self.load(env)
        if state is None:
            return []
        prefix = self._key(env, "history/")
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")

        def listing() -> None:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))

        _call("list " + prefix, listing)
        records: list[Record] = []
        for key in sorted(keys):
            name = key[len(prefix) :].removesuffix(".json")
            if not name.isdigit() or int(name) > state.seq:
                continue  # beyond what the state counts: a torn tail
            found = self._get(key)
            if found is None:
                continue
            try:
                raw = json.loads(found.body)
            except json.JSONDecodeError as err:
                raise StateError(f"not valid JSON ({err.msg})", file=self._url(key)) from err
            records.append(decode_record(raw, file=self._url(key)))
        return records

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
        try:
            with KeepAlive(lease, interval_s=max(lease_s / 3, 0.05)):
                yield lease
        finally:
            lease.release()

    def _acquire(self, env: str, lease_s: float, force: bool, *, attempts: int = 3) -> S3Lease:
        key = self._key(env, "lock.json")
        now = time.time()
        who = audit.actor()
        info = LockInfo(who["user"], who["host"], os.getpid(), now, now + lease_s, uuid.uuid4().hex)
        try:
            etag = self._put(key, encode_lock(info), if_none_match=True)
        except _PreconditionFailed:
            held = self._get(key)
            if held is None:
                if attempts <= 1:
                    raise LockedError(env, "other runs taking and releasing it") from None
                return self._acquire(env, lease_s, force, attempts=attempts - 1)
            holder = decode_lock(held.body, file=self._url(key))  # garbage: StateError, left as it is
            expired = holder.expires_at < now
            if not (expired and force):
                raise LockedError(env, holder.describe(), expired=expired) from None
            try:
                etag = self._put(key, encode_lock(info), if_match=held.etag)
            except (_PreconditionFailed, _Missing):
                raise LockedError(env, "another run that took over at the same time") from None
        # Read back: the lock must now be ours (also guards servers whose conditional writes are not atomic).
        current = self._get(key)
        if current is None or decode_lock(current.body, file=self._url(key)).run_id != info.run_id:
            raise LockedError(env, "another run that took it at the same time")
        return S3Lease(self, env, info, etag, lease_s)
