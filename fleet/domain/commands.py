"""Commands: what the cutover asks the engine to carry out next, and the transition's result.

Every command is idempotent (provisioning converges, weights are absolute,
destroying an absent slot is a no-op), which is what makes a cutover resumable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.domain.cutover import EnvironmentState
from fleet.domain.model import SlotName, Version, Weights


@dataclass(frozen=True)
class Command:
    pass


@dataclass(frozen=True)
class RefreshSlots(Command):
    pass


@dataclass(frozen=True)
class ProvisionSlot(Command):
    slot: SlotName
    version: Version


@dataclass(frozen=True)
class BootstrapFlux(Command):
    slot: SlotName


@dataclass(frozen=True)
class AwaitHealthy(Command):
    slot: SlotName
    timeout_s: float


@dataclass(frozen=True)
class CheckParity(Command):
    old: SlotName
    new: SlotName
    not_before: float = 0.0
    """While the slots settle on one revision, the next comparison waits until then."""


@dataclass(frozen=True)
class CheckHealth(Command):
    """Report ``slot``'s health before its weight increases, once reconciles in progress settled."""

    slot: SlotName


@dataclass(frozen=True)
class AwaitApproval(Command):
    step: int


@dataclass(frozen=True)
class RunSmokeTest(Command):
    slot: SlotName
    step: int
    percent: int


@dataclass(frozen=True)
class SetWeights(Command):
    weights: Weights
    reapply: bool = False
    """Re-apply the recorded weights after a person looked at drift: the provider is not compared first."""


@dataclass(frozen=True)
class Analyse(Command):
    slot: SlotName


@dataclass(frozen=True)
class WaitUntil(Command):
    at: float
    watch: SlotName | None = None
    """A slot whose health is watched while waiting; a regression ends the wait (HealthReported)."""


@dataclass(frozen=True)
class ConfirmTeardown(Command):
    slot: SlotName


@dataclass(frozen=True)
class DrainSlot(Command):
    slot: SlotName


@dataclass(frozen=True)
class DestroySlot(Command):
    slot: SlotName


@dataclass(frozen=True)
class HandoffSingletons(Command):
    """Hold (``running=False``) or release the workloads that must not run twice on ``slot``.

    Holding returns once ``slot``'s API server shows them stopped; both are idempotent."""

    slot: SlotName
    running: bool


@dataclass(frozen=True)
class Transition:
    state: EnvironmentState
    commands: tuple[Command, ...] = field(default_factory=tuple)
