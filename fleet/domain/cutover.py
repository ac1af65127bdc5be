"""The state of an environment and of its cutover: what the transition function reads and returns.

Frozen dataclasses only, so that a state can be stored, compared and replayed;
the rules that change them live in :mod:`fleet.domain.machine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from fleet.domain.gates import GatePolicy
from fleet.domain.model import ABSENT_SLOT, Role, RolloutPolicy, SlotName, SlotState, TeardownPolicy, Version, Weights


class Handoff(StrEnum):
    """Where the workloads that must not run twice are (:mod:`fleet.domain.singletons`)."""

    HELD = "held"
    """They run on the old slot; the new slot holds them (as bootstrapped)."""
    OLD_STOPPED = "old-stopped"
    """Stopped on the old slot (confirmed); the new slot may have been told to start them."""
    HANDED = "handed"
    """They run on the new slot only."""
    NEW_STOPPED = "new-stopped"
    """Rolling back: stopped on the new slot (confirmed); the old slot may have been told to start them."""
    RETURNED = "returned"
    """Rolled back: they run on the old slot again, the new slot holds them."""


class Phase(StrEnum):
    PROVISION = "PROVISION"
    BOOTSTRAP = "BOOTSTRAP"
    WAIT_HEALTHY = "WAIT_HEALTHY"
    VERIFY_PARITY = "VERIFY_PARITY"
    SHIFT = "SHIFT"
    BAKE = "BAKE"
    TEARDOWN_OLD = "TEARDOWN_OLD"
    DONE = "DONE"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    FAILED = "FAILED"
    ABORTED = "ABORTED"

    @property
    def terminal(self) -> bool:
        return self in (Phase.DONE, Phase.ROLLED_BACK, Phase.ABORTED)

    @property
    def halted(self) -> bool:
        """Stopped short of DONE: the run ends with exit 1."""
        return self in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED)


class InvalidTransition(Exception):
    """The event does not apply to the state (a stale or out-of-order report)."""


@dataclass(frozen=True)
class Cutover:
    """A cutover in flight (or the last one, once terminal)."""

    id: str
    old: SlotName
    new: SlotName
    target: Version
    rollout: RolloutPolicy
    teardown: TeardownPolicy
    phase: Phase
    started_at: float
    phase_since: float
    step: int = 0
    failed_checks: int = 0
    extensions: int = 0
    drained_at: float | None = None
    """When the old slot's weight reached 0; the teardown bake counts from here."""
    confirmed: bool = False
    old_drained: bool = False
    refresh_first: bool = False
    resume_phase: Phase | None = None
    """Where a FAILED cutover continues when resumed."""
    aborting: bool = False
    reason: str | None = None
    awaiting_confirmation: bool = False
    updated_at: float = 0.0
    """When the last event of this cutover happened."""
    held: str | None = None
    """Why the cutover stopped for a person to look (the provider's traffic drifted from the record, the
    old slot still serves); ``fleet resume`` continues, re-applying the recorded weights first."""
    reapply: bool = False
    """Set the recorded weights (and the new slot's address) again before anything else: resumed after drift."""
    revisions: dict[str, str] = field(default_factory=dict)
    """What was verified: the revisions the new slot had applied when parity passed (per source and per
    Kustomization); moving away from them is a regression."""
    health_checked: bool = False
    """The new slot's health was checked for this step's weight increase."""
    parity_retry_at: float | None = None
    """When to compare the slots again while they settle on one revision."""
    window_end: float | None = None
    """When the maintenance window this run started (or resumed) in ends; None: no window."""
    paused: str | None = None
    """Why the cutover waits for the next maintenance window (not a rollback); ``fleet resume`` continues."""
    gates: GatePolicy = field(default_factory=GatePolicy)
    approved: tuple[int, ...] = ()
    """Steps (from 1) approved with ``fleet approve``."""
    awaiting_approval: int | None = None
    """The step (from 1) held until ``fleet approve``: the run ends with exit 4 meanwhile."""
    smoke_checked: bool = False
    """The pre-shift smoke tests passed for this step's weight increase."""
    handoff: Handoff = Handoff.HELD
    """Where the workloads that must not run twice are."""

    @property
    def steps(self) -> tuple[int, ...]:
        return self.rollout.steps

    @property
    def in_flight(self) -> bool:
        return not self.phase.terminal

    @property
    def teardown_due(self) -> float | None:
        return None if self.drained_at is None else self.drained_at + self.teardown.bake_s

    def step_label(self) -> str:
        if self.phase is Phase.SHIFT:
            return f"{self.step + 1}/{len(self.steps)} ({self.steps[self.step]}%)"
        return ""


@dataclass(frozen=True)
class LastResult:
    outcome: Phase
    at: float
    target: Version
    reason: str | None = None


@dataclass(frozen=True)
class EnvironmentState:
    env: str
    slots: Mapping[SlotName, SlotState]
    weights: Weights
    cutover: Cutover | None = None
    last: LastResult | None = None
    seq: int = 0
    """Number of history records committed for this environment."""

    @classmethod
    def seed(cls, env: str, version: Version, active: SlotName = SlotName.BLUE) -> EnvironmentState:
        """A new environment: one active slot at ``version`` taking all traffic."""
        slots = {
            active: SlotState(Role.ACTIVE, version, healthy=True),
            active.other: ABSENT_SLOT,
        }
        return cls(env=env, slots=slots, weights=Weights.all_to(active))

    def slot(self, name: SlotName) -> SlotState:
        return self.slots[name]

    @property
    def active(self) -> SlotName | None:
        found = [n for n, s in self.slots.items() if s.role is Role.ACTIVE]
        return found[0] if len(found) == 1 else None

    @property
    def in_flight(self) -> bool:
        return self.cutover is not None and self.cutover.in_flight

    def with_slot(self, name: SlotName, **changes: object) -> EnvironmentState:
        slots = dict(self.slots)
        slots[name] = replace(slots[name], **changes)  # type: ignore[arg-type]
        return replace(self, slots=slots)

