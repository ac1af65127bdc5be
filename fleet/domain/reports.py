"""What the outside world reports back to the core: slot outputs, Flux health, traffic analysis.

These are plain values so that the transition function can decide on them and
the history can keep them as evidence. Secrets (a kubeconfig) travel wrapped
in :class:`Secret`, whose ``repr`` and ``str`` never show the value, so that a
stray log line or history record cannot leak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from fleet.domain.model import SlotName, Version


class Secret:
    """A value that must never be printed, logged or stored."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class SlotOutputs:
    """What a provisioned slot exposes: how to reach its API and its ingress."""

    slot: SlotName
    version: Version
    endpoint: str
    ingress: str
    kubeconfig: Secret = field(repr=False)


@dataclass(frozen=True, order=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ObjectFailure:
    ref: ObjectRef
    reason: str
    message: str


@dataclass(frozen=True)
class TenantHealth:
    tenant: str
    reconciled: bool
    objects: int
    failures: tuple[ObjectFailure, ...] = ()


@dataclass(frozen=True)
class HealthReport:
    """The Flux health gate's view of one slot at one moment."""

    slot: SlotName
    reconciled: bool
    revisions: dict[str, str] = field(default_factory=dict)
    """Applied source revision per source (``namespace/name`` -> ``main@sha1:...``)."""
    ready: frozenset[ObjectRef] = frozenset()
    failures: tuple[ObjectFailure, ...] = ()
    tenants: tuple[TenantHealth, ...] = ()

    @property
    def blocking_tenants(self) -> tuple[str, ...]:
        return tuple(t.tenant for t in self.tenants if not t.reconciled)


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Evidence:
    """What an analysis window saw of one slot's traffic."""

    requests: int
    errors: int
    duration_s: float
    success_rate: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    statistic: float | None = None
    decided_early: bool = False
    source: str = ""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    evidence: Evidence
    reason: str = ""


def check_parity(old: HealthReport, new: HealthReport) -> tuple[str, ...]:
    """Why traffic must not move from ``old`` to ``new`` yet; empty when they match.

    The new slot must be reconciled, must have applied the same revision of
    every source the old slot applied, and must have the same set of Flux
    objects Ready: a green that reconciled a subset passes a naive check.
    """
    problems: list[str] = []
    if not new.reconciled:
        problems.append(f"{new.slot} is not reconciled")
    for source, revision in sorted(old.revisions.items()):
        theirs = new.revisions.get(source)
        if theirs is None:
            problems.append(f"{new.slot} has no source {source} (at {revision} on {old.slot})")
        elif theirs != revision:
            problems.append(f"{source} is at {theirs} on {new.slot} but {revision} on {old.slot}")
    missing = sorted(old.ready - new.ready)
    if missing:
        names = ", ".join(str(ref) for ref in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        problems.append(f"Ready on {old.slot} but not on {new.slot}: {names}{more}")
    extra = sorted(new.ready - old.ready)
    if extra:
        names = ", ".join(str(ref) for ref in extra[:5])
        more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
        problems.append(f"Ready on {new.slot} but not on {old.slot}: {names}{more}")
    return tuple(problems)
