"""History records: how an event becomes a record's JSON, and how records are framed so that damage is found.

Each history record carries its own ``digest`` (SHA-256 over its canonical
JSON, which includes ``prev``, the digest of the record before it): a torn
line, a changed line and a missing line all break the chain. The state file's
own format is :mod:`fleet.state.codec`, which names these too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any

from fleet.domain.machine import Event
from fleet.domain.model import Version, Weights
from fleet.domain.reports import Secret
from fleet.errors import StateError
from fleet.ports import Record


def to_jsonable(value: object) -> object:
    """Plain JSON for events and reports in the history; secrets are redacted."""
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Version):
        return str(value)
    if isinstance(value, Weights):
        return {"blue": value.blue, "green": value.green}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k.value if isinstance(k, Enum) else k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def event_detail(event: Event) -> dict[str, Any]:
    detail = to_jsonable(event)
    assert isinstance(detail, dict)
    detail.pop("at", None)
    return detail


def encode_record(record: Record) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at,
        "event": record.event,
        "phase": record.phase,
        "weights": {"blue": record.weights.blue, "green": record.weights.green},
        "detail": dict(record.detail),
        "actor": dict(record.actor),
    }


def decode_record(raw: object, *, file: str) -> Record:
    if not isinstance(raw, dict):
        raise StateError(f"expected an object, found {type(raw).__name__}", file=file)
    d = raw
    try:
        w = d["weights"]
        return Record(
            seq=int(d["seq"]),
            at=float(d["at"]),
            event=str(d["event"]),
            phase=d.get("phase"),
            weights=Weights(blue=int(w["blue"]), green=int(w["green"])),
            detail=dict(d.get("detail") or {}),
            actor=dict(d.get("actor") or {}),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise StateError(f"malformed history record ({err})", file=file, key=f"seq {d.get('seq')}") from err


# --- history records, framed so that damage is found --------------------------------------------------


class DamagedRecord(ValueError):
    """A history record that cannot be trusted: not JSON, not a record, or its digest does not match."""


def _canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def frame_record(record: Record, *, prev: str, rehearsal: bool) -> tuple[dict[str, Any], str]:
    """The record as stored (with ``rehearsal``, ``prev`` and its own ``digest``), and that digest."""
    body = encode_record(record)
    body["rehearsal"] = rehearsal
    body["prev"] = prev
    digest = hashlib.sha256(_canonical(body)).hexdigest()
    return {**body, "digest": digest}, digest


def record_line(framed: Mapping[str, Any]) -> str:
    """The stored line: the canonical JSON of the record, its ``digest`` spliced in last.

    The digest covers exactly the bytes before it (with the closing brace),
    so a reader checks a line by hashing it, without re-serialising it.
    """
    body = {k: v for k, v in framed.items() if k != "digest"}
    text = _canonical(body).decode("ascii")
    return f'{text[:-1]},"digest":"{framed["digest"]}"}}\n'


_SUFFIX = len(',"digest":""}') + 64


class Framed:
    """One stored record, its digest checked; the Record itself is decoded when first asked for."""

    __slots__ = ("_raw", "_record", "digest", "file", "prev", "rehearsal", "seq")

    def __init__(
        self,
        raw: Mapping[str, Any] | bytes,
        digest: str | None,
        file: str,
        record: Record | None = None,
        *,
        seq: int | None = None,
        prev: str | None = None,
        rehearsal: bool | None = None,
    ) -> None:
        self._raw = raw
        self._record = record
        self.digest = digest
        """None for a record of a format-1 history, which had none."""
        self.file = file
        if isinstance(raw, bytes):
            assert seq is not None
            self.seq: int = seq
            self.prev: str | None = prev
            self.rehearsal: bool | None = rehearsal
            return
        found_prev, found_rehearsal = raw.get("prev"), raw.get("rehearsal")
        self.prev = found_prev if isinstance(found_prev, str) else None
        self.rehearsal = found_rehearsal if isinstance(found_rehearsal, bool) else None
        self.seq = raw["seq"]

    @property
    def record(self) -> Record:
        if self._record is None:
            raw = self._raw
            if isinstance(raw, bytes):
                raw = json.loads(raw)
            self._record = decode_record(raw, file=self.file)
        return self._record


def _fast(line: bytes, file: str) -> Framed | None:
    """A line exactly as :func:`record_line` writes it, checked by hashing its bytes; None if it is not one."""
    if len(line) <= _SUFFIX or not line.endswith(b'"}') or line[-_SUFFIX : -_SUFFIX + 11] != b',"digest":"':
        return None
    digest = line[-66:-2].decode("ascii", errors="replace")
    body = line[:-_SUFFIX] + b"}"
    if hashlib.sha256(body).hexdigest() != digest:
        return None
    # The bytes are what this store wrote (canonical JSON, keys sorted): the top-level "prev", "rehearsal" and
    # "seq" follow "detail", so the last occurrence of each key is the top-level one.
    at_prev, at_seq, at_rehearsal = body.rfind(b',"prev":"'), body.rfind(b',"seq":'), body.rfind(b',"rehearsal":')
    if min(at_prev, at_seq, at_rehearsal) < 0:
        return None
    end_prev = body.find(b'"', at_prev + 9)
    end_seq = body.find(b",", at_seq + 7)
    try:
        seq = int(body[at_seq + 7 : end_seq])
    except ValueError:
        return None
    prev = body[at_prev + 9 : end_prev].decode("ascii", errors="replace")
    rehearsal = body[at_rehearsal + 13 : at_rehearsal + 17] == b"true"
    return Framed(body, digest, file, seq=seq, prev=prev, rehearsal=rehearsal)


def unframe_bytes(line: bytes, *, file: str) -> Framed:
    """:func:`unframe` for a line of bytes, by hashing alone when the line is in the form this store writes."""
    fast = _fast(line, file)
    if fast is not None:
        return fast
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DamagedRecord(f"not UTF-8 text ({err.reason})") from None
    return unframe(text, file=file)


def unframe(text: str, *, file: str) -> Framed:
    """One stored record, checked against its digest; DamagedRecord when it cannot be trusted."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise DamagedRecord(f"not valid JSON ({err.msg})") from None
    if not isinstance(raw, dict):
        raise DamagedRecord("not a JSON object")
    digest = raw.pop("digest", None)
    if digest is not None and (
        not isinstance(digest, str) or hashlib.sha256(_canonical(raw)).hexdigest() != digest
    ):
        raise DamagedRecord("its digest does not match its content")
    seq = raw.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise DamagedRecord("its seq is not a whole number")
    if digest is not None:
        return Framed(raw, digest, file)  # what a store wrote, unchanged: decoded when asked for
    try:
        record = decode_record(raw, file=file)  # an older fleet's record, without a digest: checked now
    except StateError as err:
        raise DamagedRecord(err.detail) from None
    return Framed(raw, None, file, record)
