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
* The lock is an object written with conditional writes and judged on S3's
  clock (:mod:`fleet.state.s3_lease`).

boto3 is imported only by :mod:`fleet.state.s3_objects`, and only when an
``s3://`` location is opened; every botocore error leaves there as a
``fleet.errors`` exception. This module keeps the store's rules.
"""


from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from fleet.domain.machine import EnvironmentState
from fleet.errors import ConfigError, LockedError, StateError
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
from fleet.state.history import aside_stamp, damage_message, repair_record
from fleet.state.lease import decode_request, encode_request, held
from fleet.state.s3_history import S3History
from fleet.state.s3_lease import S3Lease, acquire
from fleet.state.s3_objects import (
    _call,
    _Missing,
    _Object,
    _PreconditionFailed,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ENDPOINT_VARIABLES = ("FLEET_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")

__all__ = ["ENDPOINT_VARIABLES", "S3Lease", "S3StateStore", "_call"]


class S3StateStore(S3History):
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
        super().__init__(bucket, prefix, client=client, endpoint_url=endpoint_url)
        self.rehearsal = rehearsal
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

    def _validate(self, env: str, state: EnvironmentState, meta: StateMeta) -> list[Record]:
        records, head, damage = self._scan(env, state.seq)
        if damage is None and meta.head is not None and head != meta.head:
            damage = f"record {state.seq} is not the one the state counts (its digest differs)"
        if damage is not None:
            last = (records[-1].seq, records[-1].event) if records else None
            aside = "records aside and go on from the last good one"
            raise StateError(
                damage_message(damage, last, state.seq, env, aside=aside), file=self._url(self._key(env, "history/"))
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
        aside = self._key(env, f"damaged-{aside_stamp()}/")
        for seq, (key, _) in sorted(self._listing(env).items()):
            if seq <= kept:
                continue
            self._move(key, aside + key.rsplit("/", 1)[-1])
        record = repair_record(state, kept, damage, self._url(aside), actor)
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
        lease = acquire(self, env, lease_s, force)
        with held(lease, max(lease_s / 3, 0.05)):
            yield lease

