"""Reading the S3 store's history: one object a record, listed in one request.

A walk from record 1 checks each record's sequence number and its link in the
chain of digests and stops at the first that is missing, damaged or out of
order; a gap is accepted only where a repair record names it. Records already
checked are known by their key and ETag, so a load re-reads only what changed.
Kept apart from the store's rules so the walk can be read on its own.
"""

from __future__ import annotations

from fleet.ports import Record
from fleet.state.codec import GENESIS, DamagedRecord, Framed, unframe
from fleet.state.history import explains_gap
from fleet.state.s3_objects import S3Objects


class S3History(S3Objects):
    """The history part of the S3 store: cached, checked reads of its record objects."""

    _checked: dict[tuple[str, str], Framed]
    """History records already read and checked, by key and ETag: a load re-reads only what changed."""

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
