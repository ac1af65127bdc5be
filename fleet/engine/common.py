"""What the engine's parts share: the ports they act through, the run's settings, and the errors they raise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fleet.domain.cutover import EnvironmentState
from fleet.errors import FleetError
from fleet.ports import (
    Analysis,
    Clock,
    Confirm,
    GitOpsHealth,
    Hooks,
    Notifier,
    Outbox,
    Provisioner,
    Record,
    Singletons,
    Traffic,
)

Checkpoint = Callable[[str], None]
"""Called at every checkpoint by name; fault injection (crash tests, rehearsal) hooks in here."""

INTENT = "WeightsIntended"
"""The journal record written before every weight change: which weights may be live from now on."""


DELIVERIES = "NotificationsSent"
"""The journal record of the notifications delivered or given up since the last checkpoint (the delivery log)."""
DELIVERY_FLUSH_S = 10.0
"""How long the end of a run waits for notifications still being delivered."""


class TellTenants(Protocol):
    """Each tenant's own story of a run that ended (``fleet.adapters.notify.tenants``), queued on the outbox."""

    def tell(self, state: EnvironmentState, records: Sequence[Record]) -> int: ...


def no_checkpoint(name: str) -> None:
    return None


@dataclass
class Ports:
    provisioner: Provisioner
    health: GitOpsHealth
    traffic: Traffic
    analysis: Analysis
    clock: Clock
    notifier: Notifier
    confirm: Confirm = field(default=lambda question: False)
    outbox: Outbox | None = None
    """Notifications being delivered off the critical path; their log is recorded at the next checkpoint."""
    hooks: Hooks | None = None
    """The pre-shift smoke tests; None when the environment has none."""
    tenants: TellTenants | None = None
    """Tells each tenant with a contact how the run ended for it; None when no tenant has one."""
    singletons: Singletons | None = None
    """Holds and hands over the workloads that must not run twice; None: the handoff is only recorded."""


@dataclass
class RunSettings:
    """Settings every part of one engine reads at the moment it acts (tests change them on a built engine)."""

    lease_s: float = 300.0
    checkpoint: Checkpoint = no_checkpoint


class InvariantBroken(FleetError):
    """The engine refused a step that would break one of its guarantees (a bug: report it)."""


class RequestPending(FleetError):
    """A rollback or abort was handed to the run that holds the lock and has not happened yet."""


class CommitFailed(FleetError):
    """A commit after a weight change failed; says where the traffic was left. Exits as the original error."""

    def __init__(self, message: str, original: BaseException) -> None:
        self.original = original
        self.exit_code = getattr(original, "exit_code", 1)
        super().__init__(message)
