"""The state store's JSON format, written by hand so that it stays readable and versioned.

A state file is what an operator opens at 3 a.m. to see where a cutover
stopped, so it is plain JSON with obvious keys. ``FORMAT`` is bumped on any
incompatible change; a file from a newer fleet is refused (never rewritten)
so that an old binary in one pipeline cannot corrupt what a newer one wrote.
Decoding errors name the file and the key.

Format 2 adds what makes the store trustworthy (format 1 is still read):
``rehearsal`` says whether the state belongs to a rehearsal (a production
command refuses it, a rehearsal refuses anything else), and ``history``
holds the sequence number and digest of the last history record, so a
missing, torn or edited history is found before anything is done. Each
history record carries its own ``digest`` (SHA-256 over its canonical JSON,
which includes ``prev``, the digest of the record before it): a torn line, a
changed line and a missing line all break the chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from fleet.domain.machine import Cutover, EnvironmentState, Event, LastResult, Phase
from fleet.domain.model import (
    AnalysisPolicy,
    Role,
    RolloutPolicy,
    SlotName,
    SlotState,
    TeardownPolicy,
    Version,
    Weights,
    validate_steps,
)
from fleet.domain.reports import Secret
from fleet.errors import StateError
from fleet.ports import Record

FORMAT = 2
GENESIS = ""
"""The ``prev`` of the first record (and of the first one after a history of format 1)."""

_E = TypeVar("_E", bound=Enum)


@dataclasses.dataclass(frozen=True)
class StateMeta:
    """What the store writes beside the state: whose it is, and the history it counts."""

    rehearsal: bool | None
    """None in a format-1 file, which did not say."""
    head: str | None
    """The digest of record ``seq``; None in a format-1 file."""
    format: int = FORMAT


def dump_state(state: EnvironmentState, *, rehearsal: bool = False, head: str = GENESIS) -> str:
    data = encode_state(state)
    data["rehearsal"] = rehearsal
    data["history"] = {"seq": state.seq, "digest": head}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def encode_state(state: EnvironmentState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "env": state.env,
        "seq": state.seq,
        "slots": {
            name.value: {
                "role": slot.role.value,
                "version": None if slot.version is None else str(slot.version),
                "healthy": slot.healthy,
            }
            for name, slot in sorted(state.slots.items())
        },
        "weights": {"blue": state.weights.blue, "green": state.weights.green},
        "cutover": None if state.cutover is None else _encode_cutover(state.cutover),
        "last": None
        if state.last is None
        else {
            "outcome": state.last.outcome.value,
            "at": state.last.at,
            "target": str(state.last.target),
            "reason": state.last.reason,
        },
    }


def _encode_cutover(c: Cutover) -> dict[str, Any]:
    out = to_jsonable(c)
    assert isinstance(out, dict)
    return out


def load_state(text: str, *, file: str) -> EnvironmentState:
    return load_state_meta(text, file=file)[0]


def load_state_meta(text: str, *, file: str) -> tuple[EnvironmentState, StateMeta]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise StateError(
            f"not valid JSON ({err.msg} at line {err.lineno}); the file may be truncated", file=file
        ) from err
    state = decode_state(raw, file=file)
    assert isinstance(raw, dict)
    fmt = int(raw["format"])
    if fmt < 2:
        return state, StateMeta(rehearsal=None, head=None, format=fmt)
    r = _Reader(file)
    rehearsal = r.get(raw, "rehearsal", bool)
    history = r.mapping(raw.get("history"), "history")
    counted = r.get(history, "seq", int, prefix="history")
    if counted != state.seq:
        raise r.fail("history.seq", f"{counted} differs from seq {state.seq}")
    head = r.get(history, "digest", str, prefix="history")
    return state, StateMeta(rehearsal=rehearsal, head=head, format=fmt)


def decode_state(raw: object, *, file: str) -> EnvironmentState:
    r = _Reader(file)
    data = r.mapping(raw, "")
    fmt = r.get(data, "format", int)
    if fmt > FORMAT:
        raise StateError(
            f"written by a newer fleet (format {fmt}, this fleet reads {FORMAT}); upgrade fleet",
            file=file,
            key="format",
        )
    if fmt < 1:
        raise StateError(f"unknown format {fmt}", file=file, key="format")
    slots_raw = r.mapping(data.get("slots"), "slots")
    slots: dict[SlotName, SlotState] = {}
    for name in SlotName:
        key = f"slots.{name.value}"
        s = r.mapping(slots_raw.get(name.value), key)
        version = s.get("version")
        slots[name] = SlotState(
            role=r.enum(s.get("role"), Role, f"{key}.role"),
            version=None if version is None else r.version(version, f"{key}.version"),
            healthy=r.get(s, "healthy", bool, prefix=key),
        )
    w = r.mapping(data.get("weights"), "weights")
    try:
        weights = Weights(blue=r.get(w, "blue", int, prefix="weights"), green=r.get(w, "green", int, prefix="weights"))
    except ValueError as err:
        raise StateError(str(err), file=file, key="weights") from err
    cutover = None if data.get("cutover") is None else _decode_cutover(r, data["cutover"])
    if cutover is not None:
        _check_cutover(r, cutover)
    last_raw = data.get("last")
    last = None
    if last_raw is not None:
        lr = r.mapping(last_raw, "last")
        last = LastResult(
            outcome=r.enum(lr.get("outcome"), Phase, "last.outcome"),
            at=r.number(lr.get("at"), "last.at"),
            target=r.version(lr.get("target"), "last.target"),
            reason=lr.get("reason"),
        )
    return EnvironmentState(
        env=r.get(data, "env", str),
        slots=slots,
        weights=weights,
        cutover=cutover,
        last=last,
        seq=r.get(data, "seq", int),
    )


def _decode_cutover(r: _Reader, raw: object) -> Cutover:
    c = r.mapping(raw, "cutover")
    ro = r.mapping(c.get("rollout"), "cutover.rollout")
    an = r.mapping(ro.get("analysis"), "cutover.rollout.analysis")
    td = r.mapping(c.get("teardown"), "cutover.teardown")
    try:
        analysis = AnalysisPolicy(**{k: an[k] for k in _fields(AnalysisPolicy) if k in an})
        rollout = RolloutPolicy(
            steps=tuple(ro["steps"]),
            health_timeout_s=ro["health_timeout_s"],
            analysis=analysis,
        )
        teardown = TeardownPolicy(**{k: td[k] for k in _fields(TeardownPolicy) if k in td})
        resume = c.get("resume_phase")
        return Cutover(
            id=str(c["id"]),
            old=SlotName(c["old"]),
            new=SlotName(c["new"]),
            target=Version.parse(c["target"]),
            rollout=rollout,
            teardown=teardown,
            phase=Phase(c["phase"]),
            started_at=float(c["started_at"]),
            phase_since=float(c["phase_since"]),
            step=int(c.get("step", 0)),
            failed_checks=int(c.get("failed_checks", 0)),
            extensions=int(c.get("extensions", 0)),
            drained_at=None if c.get("drained_at") is None else float(c["drained_at"]),
            confirmed=bool(c.get("confirmed", False)),
            old_drained=bool(c.get("old_drained", False)),
            refresh_first=bool(c.get("refresh_first", False)),
            resume_phase=None if resume is None else Phase(resume),
            aborting=bool(c.get("aborting", False)),
            reason=c.get("reason"),
            awaiting_confirmation=bool(c.get("awaiting_confirmation", False)),
            updated_at=float(c.get("updated_at", 0.0)),
            held=None if c.get("held") is None else str(c["held"]),
            reapply=bool(c.get("reapply", False)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise StateError(f"malformed cutover record ({err})", file=r.file, key="cutover") from err


def _check_cutover(r: _Reader, c: Cutover) -> None:
    """Refuse a cutover record the engine could not act on, rather than fail half-way through a step."""
    if validate_steps(c.steps) is not None:
        raise r.fail("cutover.rollout.steps", f"{list(c.steps)}: {validate_steps(c.steps)}")
    if not 0 <= c.step < len(c.steps):
        raise r.fail("cutover.step", f"step {c.step} is outside the {len(c.steps)} weight steps")
    if c.old is c.new:
        raise r.fail("cutover.new", "the new slot is the old slot")
    if c.phase in (Phase.BAKE, Phase.TEARDOWN_OLD) and c.drained_at is None:
        raise r.fail("cutover.drained_at", f"missing in {c.phase}")
    if c.phase is Phase.FAILED and c.resume_phase is None:
        raise r.fail("cutover.resume_phase", "missing in FAILED")


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, message: str) -> StateError:
        return StateError(message, file=self.file, key=key or None)

    def mapping(self, value: object, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected an object, found {type(value).__name__}")
        return value

    def get(self, data: Mapping[str, Any], name: str, kind: type, *, prefix: str = "") -> Any:
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            raise self.fail(key, "missing")
        value = data[name]
        if kind is int and isinstance(value, bool):
            raise self.fail(key, "expected a whole number, found a boolean")
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {kind.__name__}, found {type(value).__name__}")
        return value

    def number(self, value: object, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, "expected a number")
        return float(value)

    def version(self, value: object, key: str) -> Version:
        try:
            return Version.parse(value)
        except ValueError as err:
            raise self.fail(key, str(err)) from err

    def enum(self, value: object, kind: type[_E], key: str) -> _E:
        try:
            return kind(value)
        except ValueError as err:
            allowed = ", ".join(str(m.value) for m in kind)
            raise self.fail(key, f"{value!r} is not one of {allowed}") from err


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
    r = _Reader(file)
    d = r.mapping(raw, "")
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
    return json.dumps(framed, sort_keys=True) + "\n"


@dataclasses.dataclass(frozen=True)
class Framed:
    record: Record
    digest: str | None
    """None for a record of a format-1 history, which had none."""
    prev: str | None
    rehearsal: bool | None


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
    try:
        record = decode_record(raw, file=file)
    except StateError as err:
        raise DamagedRecord(err.detail) from None
    prev = raw.get("prev")
    rehearsal = raw.get("rehearsal")
    return Framed(
        record,
        digest,
        prev if isinstance(prev, str) else None,
        rehearsal if isinstance(rehearsal, bool) else None,
    )
