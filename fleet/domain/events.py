"""Events: what the outside world told the engine, each carrying the time it happened.

Every decision of a cutover starts from one of these; the transition function
(:mod:`fleet.domain.machine`) is the only place that acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.domain.gates import GatePolicy
from fleet.domain.model import RolloutPolicy, SlotName, TeardownPolicy, Version, Weights
from fleet.domain.reports import HealthReport, Verdict


@dataclass(frozen=True)
class Event:
    at: float


@dataclass(frozen=True)
class CutoverRequested(Event):
    id: str
    target: Version
    rollout: RolloutPolicy
    teardown: TeardownPolicy
    window_end: float | None = None
    gates: GatePolicy = field(default_factory=GatePolicy)


@dataclass(frozen=True)
class ApprovalPending(Event):
    step: int


@dataclass(frozen=True)
class StepApproved(Event):
    step: int
    by: str = ""


@dataclass(frozen=True)
class SmokeTested(Event):
    step: int
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Resumed(Event):
    window_end: float | None = None
    """The end of the maintenance window this run resumes in (None: no window)."""


@dataclass(frozen=True)
class Refreshed(Event):
    pass


@dataclass(frozen=True)
class SlotProvisioned(Event):
    slot: SlotName
    version: Version


@dataclass(frozen=True)
class FluxBootstrapped(Event):
    slot: SlotName


@dataclass(frozen=True)
class HealthReported(Event):
    report: HealthReport


@dataclass(frozen=True)
class ParityObserved(Event):
    old: HealthReport
    new: HealthReport


@dataclass(frozen=True)
class WeightsApplied(Event):
    weights: Weights


@dataclass(frozen=True)
class AnalysisCompleted(Event):
    verdict: Verdict


@dataclass(frozen=True)
class HealthChanged(Event):
    slot: SlotName
    healthy: bool
    reason: str = ""


@dataclass(frozen=True)
class TimerFired(Event):
    report: HealthReport | None = None
    """The new slot's health at the end of a watched wait (a bake)."""


@dataclass(frozen=True)
class TeardownConfirmed(Event):
    pass


@dataclass(frozen=True)
class TeardownDeclined(Event):
    pass


@dataclass(frozen=True)
class SlotDrained(Event):
    slot: SlotName


@dataclass(frozen=True)
class SlotDestroyed(Event):
    slot: SlotName


@dataclass(frozen=True)
class DriftObserved(Event):
    """The traffic provider's own account disagrees with the record (a hand edit, a reload)."""

    detail: str


@dataclass(frozen=True)
class TeardownRefused(Event):
    """The old slot still takes traffic by the provider's own account: it is not drained or destroyed."""

    slot: SlotName
    reason: str


@dataclass(frozen=True)
class SingletonsHandedOff(Event):
    """The workloads that must not run twice are confirmed stopped on ``slot`` (``running=False``) or released."""

    slot: SlotName
    running: bool


@dataclass(frozen=True)
class StepFailed(Event):
    """A command could not be carried out (after the engine's retries)."""

    command: str
    reason: str


@dataclass(frozen=True)
class RollbackRequested(Event):
    reason: str = "requested by operator"


@dataclass(frozen=True)
class AbortRequested(Event):
    reason: str = "aborted by operator"
