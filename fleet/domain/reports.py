"""What the outside world reports back to the core: slot outputs, Flux health, traffic analysis.

These are plain values so that the transition function can decide on them and
the history can keep them as evidence. Secrets (a kubeconfig) travel wrapped
in :class:`Secret`, whose ``repr`` and ``str`` never show the value, so that a
stray log line or history record cannot leak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    transient: bool = False
    """Merely in progress (a routine reconcile, a dependency reconciling): not a regression by itself."""
    for_s: float | None = None
    """How long a watch has seen this object in progress without a break (None: not measured)."""


@dataclass(frozen=True)
class Running:
    """What one Flux object runs, as far as Flux reports it; None where Flux does not say."""

    ref: ObjectRef
    revision: str | None = None
    """Kustomization: ``lastAppliedRevision``; sources: ``artifact.revision``; HelmRelease: the chart revision."""
    chart: str | None = None
    chart_version: str | None = None
    config_digest: str | None = None
    """The digest of the values Helm installed (``status.history[0].configDigest``)."""

    def describe(self) -> str:
        if self.chart is not None or self.chart_version is not None:
            text = f"chart {self.chart or '?'}@{self.chart_version or '?'}"
            return text + (f" values {_short(self.config_digest)}" if self.config_digest else "")
        return self.revision or "nothing"


def _short(digest: str) -> str:
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}:{hexdigest[:12]}" if hexdigest else digest[:19]


@dataclass(frozen=True)
class TenantHealth:
    tenant: str
    reconciled: bool
    objects: int
    failures: tuple[ObjectFailure, ...] = ()
    refs: tuple[ObjectRef, ...] = ()
    """The Kustomizations, HelmReleases and sources counted as this tenant's."""


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
    running: tuple[Running, ...] = ()
    """What each Kustomization, HelmRelease and source runs (Ready or not)."""

    def runs(self, ref: ObjectRef) -> Running | None:
        for running in self.running:
            if running.ref == ref:
                return running
        return None

    def failure(self, ref: ObjectRef) -> ObjectFailure | None:
        for failure in self.failures:
            if failure.ref == ref:
                return failure
        return None

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
class TenantVerdict:
    """One tenant's share of a window, judged on its own (``fleet.domain.tenants``)."""

    tenant: str
    outcome: Outcome
    evidence: Evidence
    reason: str = ""
    probe: Evidence | None = None
    """The tenant's own probes, the fallback evidence when its share was too small to judge."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    evidence: Evidence
    reason: str = ""
    tenants: tuple[TenantVerdict, ...] = ()
    """Each configured tenant's verdict over the same window (empty when no tenant's traffic is told apart)."""


@dataclass(frozen=True)
class Parity:
    """How the new slot compares with the live one, difference by difference.

    ``blocking``: traffic must not move (a Ready object broken or missing on
    the new slot, chart drift under ``parity: strict``). ``waiting``: the slots
    are still moving (a commit landed between the two reports, objects are
    mid-reconcile) and should settle if asked again. ``accepted``: drift that
    ``parity: warn`` reports without blocking.
    """

    blocking: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    accepted: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.blocking and not self.waiting


_CHART_KINDS = frozenset({"HelmRelease"})


def compare_parity(old: HealthReport, new: HealthReport, *, strict: bool = True) -> Parity:
    """Whether traffic may move from ``old`` (live) to ``new``: directional, object by object.

    Everything Ready on the live slot must be Ready on the new one and run the
    same thing there: the same applied revision (Kustomizations), artifact
    revision (sources), chart name, version and values digest (HelmReleases).
    Objects only the new slot has, or has fixed, are fine. A difference in
    revision means a commit is still reaching one of the slots: it waits.
    """
    blocking: list[str] = []
    waiting: list[str] = []
    accepted: list[str] = []
    for source, revision in sorted(old.revisions.items()):
        theirs = new.revisions.get(source)
        if theirs is not None and theirs != revision:
            waiting.append(f"{source} is at {theirs} on {new.slot} but {revision} on {old.slot}")
    for ref in sorted(old.ready):
        failure = new.failure(ref)
        if ref not in new.ready:
            if failure is None:
                blocking.append(f"{ref}: Ready on {old.slot} but not on {new.slot}: missing")
            else:
                line = f"{ref}: Ready on {old.slot} but not on {new.slot}: {failure.reason}: {failure.message}"
                (waiting if failure.transient else blocking).append(line)
            continue
        mine, theirs_running = old.runs(ref), new.runs(ref)
        if mine is None or theirs_running is None or replace(mine, ref=ref) == replace(theirs_running, ref=ref):
            continue
        line = f"{ref}: {mine.describe()} on {old.slot}, {theirs_running.describe()} on {new.slot}"
        if ref.kind in _CHART_KINDS and (mine.chart, mine.chart_version, mine.config_digest) != (
            theirs_running.chart,
            theirs_running.chart_version,
            theirs_running.config_digest,
        ):
            (blocking if strict else accepted).append(line + ("" if strict else " (accepted: health.parity warn)"))
        elif mine.revision != theirs_running.revision:
            waiting.append(line)
    for failure in new.failures:
        if failure.ref in old.ready:
            continue
        before = old.failure(failure.ref)
        if failure.transient:
            waiting.append(f"{failure.ref}: {failure.reason} on {new.slot}: {failure.message}")
        elif before is None or before.transient:
            blocking.append(f"{failure.ref}: {failure.reason} on {new.slot}: {failure.message}")
    return Parity(tuple(blocking), tuple(dict.fromkeys(waiting)), tuple(accepted))


def check_parity(old: HealthReport, new: HealthReport) -> tuple[str, ...]:
    """Every reason traffic must not move from ``old`` to ``new`` now; empty when it may."""
    parity = compare_parity(old, new)
    return parity.blocking + parity.waiting
