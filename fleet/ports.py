"""The ports: every side effect the engine needs, as a small Protocol.

The engine only ever talks to these. Real adapters (Pulumi Automation API,
the Kubernetes API, HAProxy, Route53, Prometheus, a state directory or S3)
live in ``fleet.adapters`` and ``fleet.state``; in-memory fakes with
configurable delays and injectable faults live in ``fleet.rehearsal.sim`` and serve
both the tests and ``fleet rehearse``. Adapters raise only ``fleet.errors``
exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from fleet.domain.model import AnalysisPolicy, SlotName, SlotState, Version, Weights
from fleet.domain.reports import HealthReport, SlotOutputs, Verdict
from fleet.domain.traffic import TrafficView


@dataclass(frozen=True)
class Layout:
    """The slots an environment's infrastructure program must converge to."""

    env: str
    slots: Mapping[SlotName, SlotState]

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


Interrupted = Callable[[], bool]
"""Asked between readings whether to give up a wait (an analysis window, a watch): an operator's request waits."""


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


@dataclass(frozen=True)
class Applied:
    """A weight change that took effect; analysis may begin after ``settle_s`` (e.g. DNS TTL)."""

    weights: Weights
    settle_s: float = 0.0


class Traffic(Protocol):
    """Reads and moves traffic weights between an environment's two slots."""

    def get_weights(self, env: str) -> Weights: ...

    def observe(self, env: str) -> TrafficView:
        """The provider's own account of both slots: weights, server state, sessions, addresses."""
        ...

    def set_weights(self, env: str, weights: Weights) -> Applied:
        """Apply both slots' weights in one atomic change; return once it is in effect.

        Refuses (ProviderError) to move weight onto a slot the provider's own checks
        hold down, in maintenance or draining.
        """
        ...

    def address_of(self, ingress: str) -> str | None:
        """The address the provider shows for a slot sent to ``ingress``; None where it does not route by address."""
        ...

    def point(self, env: str, slot: SlotName, ingress: str) -> None:
        """Send ``slot``'s share to ``ingress`` (its weight unchanged); a no-op where ``address_of`` is None."""
        ...


class Analysis(Protocol):
    """Judges a slot's real traffic over a window (may decide early on clear evidence)."""

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        """The slot's verdict over ``policy.window_s``.

        When ``interrupted()`` answers True the window is given up at once and
        the verdict is INCONCLUSIVE (an early FAIL already found stands); the
        engine then does what the operator asked instead of recording it.
        """
        ...


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Notice:
    env: str
    kind: str
    message: str
    phase: str | None = None
    detail: Mapping[str, Any] | None = None


class Notifier(Protocol):
    """Tells people what happened (terminal progress, chat, pager)."""

    def notify(self, notice: Notice) -> None: ...


@dataclass(frozen=True)
class Target:
    """Where notifications go: a Slack incoming webhook or a generic JSON webhook, maybe one tenant's contact."""

    kind: str
    """``slack`` or ``webhook``."""
    url: str
    name: str = ""
    events: frozenset[str] = frozenset()
    """Which kinds of notice it wants (``fleet.domain.notices.KINDS``); empty: every kind but ``step``."""
    tenant: str | None = None
    """The tenant this contact speaks for; its payloads are addressed to that tenant."""

    def describe(self) -> str:
        return self.name or f"{self.kind} {self.url.split('?')[0]}"


class Webhook(Protocol):
    """Sends one JSON document to an HTTP endpoint (urllib in production)."""

    def post(self, url: str, body: Mapping[str, Any], timeout_s: float) -> int:
        """POST ``body`` as JSON; the HTTP status of a 2xx answer.

        Raises TransientError for what may pass (refused, timed out, 5xx, 429) and
        ProviderError for what will not (any other 4xx).
        """
        ...


class Outbox(Protocol):
    """Notifications being delivered off the engine's path; the engine records how each delivery went."""

    def take(self) -> list[Mapping[str, Any]]:
        """The deliveries finished (delivered or given up) since the last call, oldest first."""
        ...

    def flush(self, timeout_s: float) -> None:
        """Wait at most ``timeout_s`` for the deliveries in flight; what is left is given up and reported."""
        ...


@dataclass(frozen=True)
class HookResult:
    ok: bool
    reason: str = ""


class Hooks(Protocol):
    """The environment's (and its tenants') pre-shift smoke tests."""

    def smoke(self, env: str, slot: SlotName, step: int, percent: int) -> HookResult:
        """Run every smoke test before ``slot``'s weight rises to ``percent`` (step from 1); the first failure."""
        ...


Confirm = Callable[[str], bool]
"""Asks a person a yes/no question; the CLI answers from ``--yes`` or a prompt."""


@dataclass(frozen=True)
class LockInfo:
    owner: str
    host: str
    pid: int
    acquired_at: float
    expires_at: float
    run_id: str = ""

    def describe(self) -> str:
        return f"{self.owner}@{self.host} (pid {self.pid})"


class Lease(Protocol):
    """A held lock; ``renew`` extends it, raising LockedError if it was lost."""

    info: LockInfo

    def renew(self) -> None: ...


@dataclass(frozen=True)
class Record:
    """One entry of an environment's history."""

    seq: int
    at: float
    event: str
    phase: str | None
    weights: Weights
    detail: Mapping[str, Any]
    actor: Mapping[str, str]


@dataclass(frozen=True)
class Request:
    """An operator's request to the run that holds an environment's lock: ``rollback`` or ``abort``."""

    kind: str
    reason: str
    by: str
    at: float


class StateStore(Protocol):
    """Durable per-environment state, its history, and a lock per environment."""

    location: str

    def load(self, env: str) -> Any | None:
        """The environment's state (``fleet.domain.machine.EnvironmentState``) or None."""
        ...

    def commit(self, env: str, state: Any, records: Sequence[Record]) -> None:
        """Atomically store ``state`` and append ``records`` to the history."""
        ...

    def history(self, env: str) -> list[Record]: ...

    def environments(self) -> list[str]: ...

    def lock(self, env: str, *, lease_s: float, force: bool = False) -> AbstractContextManager[Lease]:
        """Hold the environment's lock; LockedError (exit 3) when another run has it."""
        ...

    def post_request(self, env: str, request: Request) -> None:
        """Leave a request for the run that holds the lock (it checks before every command)."""
        ...

    def has_request(self, env: str) -> bool: ...

    def take_request(self, env: str) -> Request | None:
        """The pending request, removed from the store; None when there is none."""
        ...


def iter_slots() -> Iterator[SlotName]:
    yield SlotName.BLUE
    yield SlotName.GREEN
