"""Random Flux reconcile schedules over a verified slot: flaps never roll back, failures always do.

A schedule gives each of up to 30 Flux objects its own reconciles (Ready=
Unknown at the verified revision) at random times and of random lengths,
overlapping freely across objects, as Flux's per-object intervals produce.
The slot is watched the way the health gate watches it (re-judged at every
status change, and woken when a reconcile reaches the grace), and each watch's outcome is handed to the pure transition
function exactly as the engine hands it (``HealthReported`` before the bake's
end, ``TimerFired`` at it). The properties:

* a slot whose every reconcile is shorter than the grace is never rolled
  back, in the checks before weight increases or in the bake;
* a slot with one reconcile that never ends, or one Ready=False, is rolled
  back within the grace (resp. at once) plus one poll of the watch.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.domain.health import ProgressWatch, judge_live
from fleet.domain.machine import (
    AnalysisCompleted,
    CheckHealth,
    EnvironmentState,
    HealthReported,
    Phase,
    SetWeights,
    TimerFired,
    WaitUntil,
    WeightsApplied,
    pending,
    transition,
)
from fleet.domain.model import SlotName
from fleet.domain.reports import Evidence, HealthReport, ObjectFailure, ObjectRef, Outcome, Verdict
from tests.domain.test_transitions import reach

SCHEDULES = int(os.environ.get("FLEET_SCHEDULES", "200"))
POLL_S = 1.0
REVISION = "main@sha1:abc"
VERIFIED = {"flux-system/flux-system": REVISION}


@dataclass(frozen=True)
class Schedule:
    """Each object's reconciles as (start, end) offsets, plus an optional lasting failure."""

    reconciles: tuple[tuple[tuple[float, float], ...], ...]
    stuck: tuple[int, float, bool] | None = None
    """(object, from when, hard): a reconcile that never ends, or Ready=False (hard) for good."""

    def refs(self) -> list[ObjectRef]:
        return [ObjectRef("Kustomization", "tenants", f"t{i}") for i in range(len(self.reconciles))]

    def report(self, origin: float, at: float) -> HealthReport:
        t = at - origin
        failures = []
        for index, (ref, spans) in enumerate(zip(self.refs(), self.reconciles, strict=True)):
            if self.stuck is not None and self.stuck[0] == index and t >= self.stuck[1]:
                if self.stuck[2]:
                    failures.append(ObjectFailure(ref, "HealthCheckFailed", "0/3 replicas available"))
                else:
                    failures.append(ObjectFailure(ref, "Progressing", "Reconciliation in progress", transient=True))
            elif any(start <= t < end for start, end in spans):
                failures.append(ObjectFailure(ref, "Progressing", "Reconciliation in progress", transient=True))
        return HealthReport(
            slot=SlotName.GREEN,
            reconciled=not failures,
            revisions=dict(VERIFIED),
            ready=frozenset(self.refs()) - {f.ref for f in failures},
            failures=tuple(failures),
        )

    def next_change(self, origin: float, at: float) -> float:
        t = at - origin
        edges = [edge for spans in self.reconciles for span in spans for edge in span if edge > t]
        if self.stuck is not None and self.stuck[1] > t:
            edges.append(self.stuck[1])
        return origin + min(edges) if edges else math.inf


def watch(schedule: Schedule, origin: float, start: float, until: float, grace_s: float) -> tuple[HealthReport, float]:
    """What ``FluxHealthGate.watch`` returns, and when, on this schedule."""
    progress = ProgressWatch()
    now = start
    while True:
        report = progress.observe(schedule.report(origin, now), now)
        if progress.done(judge_live(report, VERIFIED, grace_s), now, until):
            return report, now
        wake = schedule.next_change(origin, now)  # the gate's one-second wake only asks about requests
        if now < until:
            wake = min(wake, until)
        expiry = progress.next_expiry(grace_s)
        if expiry is not None:
            wake = min(wake, expiry if expiry > now else now + POLL_S)
        now = max(wake, math.nextafter(now, math.inf))  # offsets added to the origin may round back to now


def spans(grace_s: float, horizon: float) -> st.SearchStrategy[tuple[tuple[float, float], ...]]:
    """One object's reconciles: each shorter than the grace, at least half a second apart."""
    pair = st.tuples(st.floats(0.5, horizon), st.floats(0.05, 0.95))

    def build(raw: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
        out: list[tuple[float, float]] = []
        for gap, share in raw:
            start = (out[-1][1] if out else -grace_s / 2) + gap
            out.append((start, start + share * grace_s))
        return tuple(out)

    return st.lists(pair, max_size=12).map(build)


GRACE = 180.0
BAKE = 1800.0
schedules = st.lists(spans(GRACE, 400.0), min_size=1, max_size=30).map(lambda r: Schedule(tuple(r)))


def _bake(schedule: Schedule) -> tuple[EnvironmentState, float, float]:
    """Run the bake over ``schedule`` (offsets from the bake's start); the final state, its start and when it left."""
    state = reach(Phase.BAKE)
    assert state.cutover is not None and state.cutover.drained_at is not None
    origin = now = state.cutover.drained_at
    while state.cutover is not None and state.cutover.phase is Phase.BAKE:
        command = pending(state)
        assert isinstance(command, WaitUntil) and command.watch is SlotName.GREEN
        report, now = watch(schedule, origin, now, command.at, state.cutover.rollout.health.regression_grace_s)
        event = HealthReported(at=now, report=report) if now < command.at else TimerFired(at=now, report=report)
        state = transition(state, event).state
    return state, origin, now


@settings(max_examples=SCHEDULES, deadline=None)
@given(schedule=schedules)
def test_a_slot_whose_reconciles_all_end_within_the_grace_is_never_rolled_back_in_the_bake(
    schedule: Schedule, schedules_run: Counter[str]
) -> None:
    state, _, _ = _bake(schedule)
    assert state.cutover is not None
    assert state.cutover.phase is Phase.TEARDOWN_OLD, state.cutover.reason
    schedules_run["flaps, bake"] += 1


@settings(max_examples=SCHEDULES, deadline=None)
@given(schedule=schedules, checks=st.lists(st.floats(0, 400), min_size=1, max_size=6))
def test_a_slot_whose_reconciles_all_end_within_the_grace_is_never_rolled_back_in_the_checks_before_increases(
    schedule: Schedule, checks: list[float], schedules_run: Counter[str]
) -> None:
    state = reach(Phase.SHIFT, weight=10)
    assert state.cutover is not None
    origin = state.cutover.updated_at
    for offset in sorted(checks):
        c = state.cutover
        assert c is not None and c.phase is Phase.SHIFT
        at = max(origin + offset, c.updated_at)
        evidence = Evidence(500, 0, 60.0, success_rate=100.0, source="t")
        passed = AnalysisCompleted(at=at, verdict=Verdict(Outcome.PASS, evidence, "ok"))
        if c.step + 1 < len(c.steps):
            state = transition(state, passed).state
            assert isinstance(pending(state), CheckHealth)
            report, when = watch(schedule, origin, at, at, c.rollout.health.regression_grace_s)
            state = transition(state, HealthReported(at=when, report=report)).state
            assert state.cutover is not None and state.cutover.phase is Phase.SHIFT, state.cutover.reason
            command = pending(state)
            assert isinstance(command, SetWeights)
            state = transition(state, WeightsApplied(at=when, weights=command.weights)).state
    schedules_run["flaps, checks"] += 1


@settings(max_examples=SCHEDULES, deadline=None)
@given(schedule=schedules, data=st.data())
def test_a_lasting_failure_is_always_rolled_back_within_the_grace_and_one_poll(
    schedule: Schedule, data: st.DataObject, schedules_run: Counter[str]
) -> None:
    index = data.draw(st.integers(0, len(schedule.reconciles) - 1))
    since = data.draw(st.floats(0.0, BAKE - GRACE - 2 * POLL_S))
    hard = data.draw(st.booleans())
    state, origin, left = _bake(replace(schedule, stuck=(index, since, hard)))
    c = state.cutover
    assert c is not None and c.phase is Phase.ROLLING_BACK
    assert pending(state) == SetWeights(state.weights.all_to(SlotName.BLUE))
    allowed = (0.0 if hard else GRACE) + POLL_S
    assert origin + since <= left <= origin + since + allowed + 1e-6
    schedules_run["lasting failures, bake"] += 1
