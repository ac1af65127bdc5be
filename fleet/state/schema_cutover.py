"""The cutover record of a state file, as pydantic models that give the engine's frozen ``Cutover``.

The fields are declared in the order the record has always been judged in:
when a record has several faults, the one reported is the first of them in
this order (with one exception that :func:`fleet.state.schema.first_error`
keeps: the ``rollout``, ``analysis`` and ``teardown`` objects are checked
before any value in them). Values convert leniently (:mod:`fleet.state.fields`);
a record that converts but that the engine could not act on (steps, step
index, slots, a phase without what it needs) is refused by
:meth:`CutoverModel.usable`, naming the key.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, PlainValidator, PrivateAttr, model_validator

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
from fleet.settings.types import problem
from fleet.state.fields import (
    lax,
    lax_optional,
    nullable,
    object_or_empty,
    policy,
    required,
    texts,
    whole_numbers,
)

_ANALYSIS = ("success_rate", "p99_latency_ms", "failed_checks", "window_s", "min_requests", "max_extensions",
             "p99_min_requests")
_TEARDOWN = ("bake_s", "confirm")


def _same(value: Any) -> Any:
    return value


class HealthModel(BaseModel):
    regression_grace_s: Annotated[float, lax(float)] = HealthPolicy.regression_grace_s
    parity: Annotated[ParityMode, lax(ParityMode)] = HealthPolicy.parity


class RolloutModel(BaseModel):
    analysis: Annotated[AnalysisPolicy, policy(AnalysisPolicy, _ANALYSIS)] = nullable()
    health: Annotated[HealthModel, BeforeValidator(object_or_empty)] = nullable()
    steps: Annotated[tuple[int, ...], lax(tuple, "steps")] = required()
    health_timeout_s: Annotated[float, lax(_same, "health_timeout_s")] = required()
    handoff_at: Annotated[int | None, lax_optional(int)] = None

    def value(self) -> RolloutPolicy:
        health = HealthPolicy(regression_grace_s=self.health.regression_grace_s, parity=self.health.parity)
        return RolloutPolicy(steps=self.steps, health_timeout_s=self.health_timeout_s, analysis=self.analysis,
                             health=health, handoff_at=self.handoff_at)


class GatesModel(BaseModel):
    smoke: Annotated[bool, lax(bool)] = False
    approve: Annotated[tuple[int, ...], lax(whole_numbers)] = ()


class CutoverModel(BaseModel):
    rollout: RolloutModel = nullable()
    teardown: Annotated[TeardownPolicy, policy(TeardownPolicy, _TEARDOWN)] = nullable()
    id: Annotated[str, lax(str, "id")] = required()
    old: Annotated[SlotName, lax(SlotName, "old")] = required()
    new: Annotated[SlotName, lax(SlotName, "new")] = required()
    target: Annotated[Version, lax(Version.parse, "target")] = required()
    phase: Annotated[Phase, lax(Phase, "phase")] = required()
    started_at: Annotated[float, lax(float, "started_at")] = required()
    phase_since: Annotated[float, lax(float, "phase_since")] = required()
    step: Annotated[int, lax(int)] = 0
    failed_checks: Annotated[int, lax(int)] = 0
    extensions: Annotated[int, lax(int)] = 0
    drained_at: Annotated[float | None, lax_optional(float)] = None
    confirmed: Annotated[bool, lax(bool)] = False
    old_drained: Annotated[bool, lax(bool)] = False
    refresh_first: Annotated[bool, lax(bool)] = False
    resume_phase: Annotated[Phase | None, lax_optional(Phase)] = None
    aborting: Annotated[bool, lax(bool)] = False
    reason: Any = None
    awaiting_confirmation: Annotated[bool, lax(bool)] = False
    updated_at: Annotated[float, lax(float)] = 0.0
    held: Annotated[str | None, lax_optional(str)] = None
    reapply: Annotated[bool, lax(bool)] = False
    revisions: Annotated[dict[str, str], PlainValidator(texts)] = {}
    health_checked: Annotated[bool, lax(bool)] = False
    parity_retry_at: Annotated[float | None, lax_optional(float)] = None
    window_end: Annotated[float | None, lax_optional(float)] = None
    paused: Annotated[str | None, lax_optional(str)] = None
    gates: Annotated[GatesModel, BeforeValidator(object_or_empty)] = GatesModel()
    approved: Annotated[tuple[int, ...], lax(whole_numbers)] = ()
    awaiting_approval: Annotated[int | None, lax_optional(int)] = None
    smoke_checked: Annotated[bool, lax(bool)] = False
    handoff: Annotated[Handoff, lax(Handoff)] = Handoff.HELD

    _value: Cutover = PrivateAttr()

    @model_validator(mode="after")
    def usable(self) -> CutoverModel:
        """Refuse a cutover record the engine could not act on, rather than fail half-way through a step."""
        c = self._value = self.cutover()
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
        return self

    @property
    def value(self) -> Cutover:
        return self._value

    def cutover(self) -> Cutover:
        return Cutover(
            id=self.id, old=self.old, new=self.new, target=self.target, rollout=self.rollout.value(),
            teardown=self.teardown, phase=self.phase, started_at=self.started_at, phase_since=self.phase_since,
            step=self.step, failed_checks=self.failed_checks, extensions=self.extensions, drained_at=self.drained_at,
            confirmed=self.confirmed, old_drained=self.old_drained, refresh_first=self.refresh_first,
            resume_phase=self.resume_phase, aborting=self.aborting, reason=self.reason,
            awaiting_confirmation=self.awaiting_confirmation, updated_at=self.updated_at, held=self.held,
            reapply=self.reapply, revisions=self.revisions, health_checked=self.health_checked,
            parity_retry_at=self.parity_retry_at, window_end=self.window_end, paused=self.paused,
            gates=GatePolicy(smoke=self.gates.smoke, approve=self.gates.approve), approved=self.approved,
            awaiting_approval=self.awaiting_approval, smoke_checked=self.smoke_checked, handoff=self.handoff,
        )
