"""The ports that bring a slot up, tell whether Flux has reconciled it, and take it down.

They share ``Layout``, what an environment's infrastructure program must converge to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from fleet.domain.model import SlotName, SlotState, Version
from fleet.domain.reports import HealthReport, SlotOutputs
from fleet.ports.clock import Interrupted


@dataclass(frozen=True)
class Layout:
    """The slots an environment's infrastructure program must converge to."""

    env: str
    slots: Mapping[SlotName, SlotState]
    held: frozenset[SlotName] = frozenset()
    """Slots whose Flux is created holding the singletons (:func:`fleet.domain.singletons.born_held`)."""

    @property
    def active(self) -> SlotName | None:
        for name, slot in self.slots.items():
            if slot.role.value == "active":
                return name
        return None


class Provisioner(Protocol):
    """Brings slots up and down (Pulumi in production)."""

    def preflight(self) -> None:
        """Raise ConfigError when a cutover cannot start here (a missing tool), before anything is recorded."""
        ...

    def provision(self, layout: Layout, slot: SlotName, version: Version) -> SlotOutputs:
        """Converge the environment to ``layout``, in which ``slot`` is present at ``version``."""
        ...

    def bootstrap(self, layout: Layout, slot: SlotName) -> None:
        """Install Flux on ``slot`` against the environment's Git source."""
        ...

    def refresh(self, layout: Layout) -> None:
        """Reconcile the provisioner's own record with reality after an interrupted run."""
        ...

    def outputs(self, env: str, slot: SlotName) -> SlotOutputs | None:
        """What ``slot`` exposes, or None when it is not provisioned."""
        ...

    def drain(self, layout: Layout, slot: SlotName) -> None:
        """Prepare ``slot`` for destruction: suspend Flux, release cloud load balancers."""
        ...

    def destroy(self, layout: Layout, slot: SlotName) -> None:
        """Remove ``slot``; ``layout`` no longer contains it."""
        ...

    def cancel(self, why: Exception) -> None:
        """Stop the call in flight (from another thread) because the lock was lost; the call raises ``why``."""
        ...


class GitOpsHealth(Protocol):
    """Tells whether a slot's Flux has reconciled, at which revision, and if not why."""

    def report(self, env: str, slot: SlotName, outputs: SlotOutputs) -> HealthReport: ...

    def wait_reconciled(self, env: str, slot: SlotName, outputs: SlotOutputs, timeout_s: float) -> HealthReport:
        """Block until the slot is reconciled or ``timeout_s`` passes; return the last report."""
        ...

    def watch(
        self,
        env: str,
        slot: SlotName,
        outputs: SlotOutputs,
        *,
        verified: Mapping[str, str],
        grace_s: float,
        until_s: float,
        interrupted: Interrupted | None = None,
    ) -> HealthReport:
        """Watch a verified slot for ``until_s`` seconds (0: a check now); return the last report.

        Returns early with the first report ``fleet.domain.health.judge_live``
        calls a regression, or when ``interrupted()`` answers True. Reconciles
        in progress when the watch began are waited for (each at most
        ``grace_s``), and every failure in progress carries how long the
        watch saw it so (``ObjectFailure.for_s``).
        """
        ...


class Singletons(Protocol):
    """Holds and releases the workloads that must not run twice on one slot (``fleet.io/singleton``)."""

    def hold(self, env: str, slot: SlotName, outputs: SlotOutputs) -> None:
        """Hold them on ``slot``; return once its API server shows them stopped, else raise ProviderError."""
        ...

    def release(self, env: str, slot: SlotName, outputs: SlotOutputs) -> None:
        """Stop holding them on ``slot`` (Flux starts them again as Git declares them)."""
        ...


def iter_slots() -> Iterator[SlotName]:
    yield SlotName.BLUE
    yield SlotName.GREEN
