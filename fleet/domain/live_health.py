"""A verified slot under watch once traffic moves: a routine reconcile is not a regression.

Every ``interval`` each Flux object goes ``Ready=Unknown``, ``Reconciling=True``
for the same revision for a few seconds; only a persistent, failed or
revision-changing report rolls traffic back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from fleet.domain.flux_kinds import KUSTOMIZATION
from fleet.domain.reports import HealthReport, ObjectRef


class Live(StrEnum):
    """The state of a slot that passed the gate and parity, once traffic moves to it."""

    HEALTHY = "healthy"
    IN_PROGRESS = "in progress"
    """Only routine reconciles at the verified revision, each shorter than the grace."""
    REGRESSED = "regressed"


@dataclass(frozen=True)
class LiveJudgement:
    state: Live
    reason: str = ""

    @property
    def regressed(self) -> bool:
        return self.state is Live.REGRESSED


_TICK = 1e-6
"""A watch woken at ``since + grace`` may measure a hair less than the grace in floating point."""


def applied_revisions(report: HealthReport) -> dict[str, str]:
    """The revision applied per source (``namespace/name``) and per Kustomization (``Kustomization/ns/name``).

    What the machine keeps as verified when parity passes: a single
    Kustomization applying a new commit is a change of what runs, even
    while the others still run the verified one.
    """
    per_object = {
        str(running.ref): running.revision
        for running in report.running
        if running.ref.kind == KUSTOMIZATION and running.revision is not None
    }
    return {**report.revisions, **per_object}


def judge_live(report: HealthReport, verified: Mapping[str, str], grace_s: float) -> LiveJudgement:
    """Whether a verified slot has regressed, or is only going through Flux's routine reconciles.

    Flux marks every Kustomization and HelmRelease Ready=Unknown,
    Reconciling=True at the start of each reconcile, every interval, at the
    same revision: that is not a regression. A regression is a failure that
    is not merely in progress (Ready=False, Stalled, a failed release or
    test, a suspended object), an object in progress for ``grace_s`` or
    longer without a break (``ObjectFailure.for_s``, measured by a watch), or
    a source whose applied revision moved away from the one verified.
    """
    current = applied_revisions(report)
    moved = [
        f"{key} moved from {revision} to {current[key]}"
        for key, revision in sorted(verified.items())
        if current.get(key, revision) != revision
    ]
    hard = [f for f in report.failures if not f.transient]
    lasting = [f for f in report.failures if f.transient and f.for_s is not None and f.for_s >= grace_s - _TICK]
    if moved or hard or lasting:
        parts = [*moved, *(f"{f.ref}: {f.reason}: {f.message}" for f in hard)]
        parts += [f"{f.ref}: {f.reason} for {f.for_s:.0f}s (grace {grace_s:g}s): {f.message}" for f in lasting]
        more = f" (+{len(parts) - 3} more)" if len(parts) > 3 else ""
        return LiveJudgement(Live.REGRESSED, "; ".join(parts[:3]) + more)
    if report.failures:
        first = report.failures[0]
        more = f" (+{len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        return LiveJudgement(Live.IN_PROGRESS, f"{first.ref}: {first.reason}{more}")
    return LiveJudgement(Live.HEALTHY)


class ProgressWatch:
    """How long each object has been in progress without a break, across the reports of one watch.

    A watch sees every status change, so the durations are exact to one
    event, and measured on fleet's own clock (the cluster's
    ``lastTransitionTime`` has a second's resolution and the cluster's clock
    skew). The objects in progress when the watch began are awaited: a
    check before a weight increase returns once each of them has finished a
    reconcile or run out of grace.
    """

    def __init__(self) -> None:
        self._since: dict[ObjectRef, float] = {}
        self._awaited: set[ObjectRef] | None = None

    def observe(self, report: HealthReport, now: float) -> HealthReport:
        """``report`` with ``for_s`` set on each failure in progress."""
        current = {f.ref for f in report.failures if f.transient}
        self._since = {ref: self._since.get(ref, now) for ref in current}
        self._awaited = set(current) if self._awaited is None else self._awaited & current
        failures = tuple(
            replace(f, for_s=now - self._since[f.ref]) if f.transient else f for f in report.failures
        )
        return replace(report, failures=failures)

    @property
    def settled(self) -> bool:
        """Every object in progress when the watch began has since been seen settled."""
        return not self._awaited

    def next_expiry(self, grace_s: float) -> float | None:
        """When the longest-running reconcile reaches the grace (None: nothing in progress)."""
        return min(self._since.values()) + grace_s if self._since else None

    def done(self, judgement: LiveJudgement, now: float, until: float) -> bool:
        """Whether a watch ``until`` a time may return: on a regression, or once over and settled."""
        return judgement.regressed or (now >= until and self.settled)
