"""The cutover record of a state file, as a ``pydantic_core`` schema that gives the engine's frozen ``Cutover``.

The keys are listed in the order the record has always been judged in:
when a record has several faults, the one reported is the first of them in
this order (with one exception that :func:`fleet.state.schema.first_error`
keeps: the ``rollout``, ``analysis`` and ``teardown`` objects are checked
before any value in them). Values convert leniently (:mod:`fleet.state.fields`);
a record that converts but that the engine could not act on (steps, step
index, slots, a phase without what it needs) is refused by :func:`_usable`,
naming the key.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import core_schema as cs

from fleet.domain.cutover import Cutover, Handoff, Phase
from fleet.domain.gates import GatePolicy
from fleet.domain.model import (
    AnalysisPolicy,
    HealthPolicy,
    ParityMode,
    RolloutPolicy,
    SlotName,
    TeardownPolicy,
    Version,
    validate_steps,
)
from fleet.state.fields import (
    lax,
    lax_optional,
    nullable,
    object_or_empty,
    optional,
    plain,
    policy,
    problem,
    record,
    required,
    texts,
    whole_numbers,
)

_ANALYSIS = ("success_rate", "p99_latency_ms", "failed_checks", "window_s", "min_requests", "max_extensions",
             "p99_min_requests")
_TEARDOWN = ("bake_s", "confirm")


def _same(value: Any) -> Any:
    return value


def _or_empty(schema: cs.CoreSchema) -> cs.CoreSchema:
    return cs.no_info_before_validator_function(object_or_empty, schema)


_HEALTH = record({
    "regression_grace_s": optional(lax(float), HealthPolicy.regression_grace_s),
    "parity": optional(lax(ParityMode), HealthPolicy.parity),
})

_ROLLOUT = record({
    "analysis": nullable(policy(AnalysisPolicy, _ANALYSIS)),
    "health": nullable(_or_empty(_HEALTH)),
    "steps": required(lax(tuple, "steps")),
    "health_timeout_s": required(lax(_same, "health_timeout_s")),
    "handoff_at": optional(lax_optional(int)),
})

_GATES = record({
    "smoke": optional(lax(bool), False),
    "approve": optional(lax(whole_numbers), ()),
})


def _cutover(c: dict[str, Any]) -> Cutover:
    r, health, gates = c["rollout"], c["rollout"]["health"], c["gates"]
    rollout = RolloutPolicy(
        steps=r["steps"], health_timeout_s=r["health_timeout_s"], analysis=r["analysis"],
        health=HealthPolicy(regression_grace_s=health["regression_grace_s"], parity=health["parity"]),
        handoff_at=r["handoff_at"],
    )
    return Cutover(
        id=c["id"], old=c["old"], new=c["new"], target=c["target"], rollout=rollout, teardown=c["teardown"],
        phase=c["phase"], started_at=c["started_at"], phase_since=c["phase_since"], step=c["step"],
        failed_checks=c["failed_checks"], extensions=c["extensions"], drained_at=c["drained_at"],
        confirmed=c["confirmed"], old_drained=c["old_drained"], refresh_first=c["refresh_first"],
        resume_phase=c["resume_phase"], aborting=c["aborting"], reason=c["reason"],
        awaiting_confirmation=c["awaiting_confirmation"], updated_at=c["updated_at"], held=c["held"],
        reapply=c["reapply"], revisions=c["revisions"], health_checked=c["health_checked"],
        parity_retry_at=c["parity_retry_at"], window_end=c["window_end"], paused=c["paused"],
        gates=GatePolicy(smoke=gates["smoke"], approve=gates["approve"]), approved=c["approved"],
        awaiting_approval=c["awaiting_approval"], smoke_checked=c["smoke_checked"], handoff=c["handoff"],
    )


def _usable(fields: dict[str, Any]) -> Cutover:
    """Refuse a cutover record the engine could not act on, rather than fail half-way through a step."""
    c = _cutover(fields)
    if validate_steps(c.steps) is not None:
        raise problem(f"{list(c.steps)}: {validate_steps(c.steps)}", key="cutover.rollout.steps")
    if not 0 <= c.step < len(c.steps):
        raise problem(f"step {c.step} is outside the {len(c.steps)} weight steps", key="cutover.step")
    if c.old is c.new:
        raise problem("the new slot is the old slot", key="cutover.new")
    if c.phase in (Phase.BAKE, Phase.TEARDOWN_OLD) and c.drained_at is None:
        raise problem(f"missing in {c.phase}", key="cutover.drained_at")
    if c.phase is Phase.FAILED and c.resume_phase is None:
        raise problem("missing in FAILED", key="cutover.resume_phase")
    return c


def _false() -> cs.TypedDictField:
    return optional(lax(bool), False)


def _maybe(convert: Any) -> cs.TypedDictField:
    return optional(lax_optional(convert))


CUTOVER = record({
    "rollout": nullable(_ROLLOUT),
    "teardown": nullable(policy(TeardownPolicy, _TEARDOWN)),
    "id": required(lax(str, "id")),
    "old": required(lax(SlotName, "old")),
    "new": required(lax(SlotName, "new")),
    "target": required(lax(Version.parse, "target")),
    "phase": required(lax(Phase, "phase")),
    "started_at": required(lax(float, "started_at")),
    "phase_since": required(lax(float, "phase_since")),
    "step": optional(lax(int), 0),
    "failed_checks": optional(lax(int), 0),
    "extensions": optional(lax(int), 0),
    "drained_at": _maybe(float),
    "confirmed": _false(),
    "old_drained": _false(),
    "refresh_first": _false(),
    "resume_phase": _maybe(Phase),
    "aborting": _false(),
    "reason": optional(cs.any_schema()),
    "awaiting_confirmation": _false(),
    "updated_at": optional(lax(float), 0.0),
    "held": _maybe(str),
    "reapply": _false(),
    "revisions": optional(plain(texts), factory=dict),
    "health_checked": _false(),
    "parity_retry_at": _maybe(float),
    "window_end": _maybe(float),
    "paused": _maybe(str),
    "gates": optional(_or_empty(_GATES), factory=lambda: {"smoke": False, "approve": ()}),
    "approved": optional(lax(whole_numbers), ()),
    "awaiting_approval": _maybe(int),
    "smoke_checked": _false(),
    "handoff": optional(lax(Handoff), Handoff.HELD),
}, _usable)
"""A cutover record: judged key by key, then built into a ``Cutover`` and checked for use."""
