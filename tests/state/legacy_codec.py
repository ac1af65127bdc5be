"""The state codec's hand-written reader as it was before the pydantic models: the oracle the models are held to.

Frozen here on purpose (tests only): ``test_state_schema`` feeds both readers
the same mutated state files and requires the same state, or the same
``StateError`` (file, key and message), from each.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from fleet.domain.cutover import Handoff
from fleet.domain.gates import GatePolicy
from fleet.domain.machine import Cutover, EnvironmentState, LastResult, Phase
from fleet.domain.model import (
    AnalysisPolicy,
    HealthPolicy,
    ParityMode,
    Role,
    RolloutPolicy,
    SlotName,
    SlotState,
    TeardownPolicy,
    Version,
    Weights,
    validate_steps,
)
from fleet.errors import StateError
from fleet.state.codec import FORMAT, StateMeta

_E = TypeVar("_E", bound=Enum)


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
        he = r.mapping(ro.get("health") or {}, "cutover.rollout.health")
        health = HealthPolicy(
            regression_grace_s=float(he.get("regression_grace_s", HealthPolicy.regression_grace_s)),
            parity=ParityMode(he.get("parity", HealthPolicy.parity.value)),
        )
        rollout = RolloutPolicy(
            steps=tuple(ro["steps"]),
            health_timeout_s=ro["health_timeout_s"],
            analysis=analysis,
            health=health,
            handoff_at=None if ro.get("handoff_at") is None else int(ro["handoff_at"]),
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
            revisions={str(k): str(v) for k, v in r.mapping(c.get("revisions") or {}, "cutover.revisions").items()},
            health_checked=bool(c.get("health_checked", False)),
            parity_retry_at=None if c.get("parity_retry_at") is None else float(c["parity_retry_at"]),
            window_end=None if c.get("window_end") is None else float(c["window_end"]),
            paused=None if c.get("paused") is None else str(c["paused"]),
            gates=_decode_gates(r.mapping(c.get("gates") or {}, "cutover.gates")),
            approved=tuple(int(n) for n in c.get("approved") or ()),
            awaiting_approval=None if c.get("awaiting_approval") is None else int(c["awaiting_approval"]),
            smoke_checked=bool(c.get("smoke_checked", False)),
            handoff=Handoff(c.get("handoff", Handoff.HELD.value)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise StateError(f"malformed cutover record ({err})", file=r.file, key="cutover") from err


def _decode_gates(g: Mapping[str, Any]) -> GatePolicy:
    return GatePolicy(smoke=bool(g.get("smoke", False)), approve=tuple(int(n) for n in g.get("approve") or ()))


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
