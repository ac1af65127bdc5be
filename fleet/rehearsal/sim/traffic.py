"""Simulated traffic: weights that stick, and an analysis window over simulated requests.

The analysis draws each poll's requests and errors (Poisson) and answer times
(log-normal) and hands them to the real window judge, so rehearsals and tests
see the decisions users would.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

from fleet.adapters.analysis.window import Reading, judge_window
from fleet.domain.model import AnalysisPolicy, SlotName, Weights
from fleet.domain.reports import (
    Verdict,
)
from fleet.domain.traffic import ServerState, SlotTraffic, TrafficView, cannot_take
from fleet.errors import ProviderError, TransientError
from fleet.ports import Applied, Interrupted
from fleet.rehearsal.sim.world import FakeClock, World


@dataclass
class FakeTraffic:
    clock: FakeClock
    world: World
    settle_s: float = 0.0
    fail_at_weight: int | None = None
    """Setting the new slot to this percentage fails permanently."""
    transient_failures: int = 0
    states: dict[SlotName, ServerState] = field(default_factory=dict)
    """A slot's server state as the provider's checks see it (UP when not set)."""
    sessions: dict[SlotName, int] = field(default_factory=dict)
    addresses: dict[SlotName, str] = field(default_factory=dict)
    """Where each slot's share goes, as set by ``point`` (a reload forgets it: clear it)."""

    def get_weights(self, env: str) -> Weights:
        return Weights(blue=self.world.weights["blue"], green=self.world.weights["green"])

    def observe(self, env: str) -> TrafficView:
        return TrafficView(
            "fake",
            {
                slot: SlotTraffic(
                    weight=self.world.weights[slot.value],
                    state=self.states.get(slot, ServerState.UP),
                    sessions=self.sessions.get(slot, 0),
                    address=self.addresses.get(slot),
                )
                for slot in SlotName
            },
        )

    def address_of(self, ingress: str) -> str | None:
        return ingress

    def point(self, env: str, slot: SlotName, ingress: str) -> None:
        self.addresses[slot] = ingress

    def set_weights(self, env: str, weights: Weights) -> Applied:
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientError("Throttling: rate exceeded", retry_after=0.5)
        view = self.observe(env)
        for slot in SlotName:
            refused = cannot_take(view, slot) if weights.of(slot) > self.world.weights[slot.value] else None
            if refused is not None:
                raise ProviderError(f"refused to move weight onto {slot}: {refused}")
        if self.fail_at_weight is not None:
            for slot in SlotName:
                rising = weights.of(slot) > self.world.weights[slot.value]
                if rising and weights.of(slot) == self.fail_at_weight:
                    raise ProviderError(f"setting weights {weights} failed: access denied")
        self.world.weights = {"blue": weights.blue, "green": weights.green}
        self.world.weight_changes.append(dict(self.world.weights))
        self.world.save()
        return Applied(weights, self.settle_s)


@dataclass
class FakeAnalysis:
    """Simulated traffic on the analysed slot, judged by the real ``SequentialJudge``.

    Each poll (``poll_s`` of simulated time) draws the slot's new requests
    from Poisson arrivals at ``requests_per_s`` times the slot's weight, each
    an error with probability ``error_rate`` (0.5 while the slot holds
    ``fail_at_weight``), and answer times for a sample of them (log-normal
    around ``latency_ms``, plus ``slow_ms``), with a seeded generator so a
    run is reproducible.
    The cumulative counts go through the same polling loop and judge as the
    real sources (``fleet.adapters.analysis.window.judge_window``), so a
    simulated rehearsal and a real one disagree only where traffic does.
    """

    clock: FakeClock
    world: World
    requests_per_s: float = 200.0
    fail_at_weight: int | None = None
    """Analysis fails while the analysed slot has this percentage (half its requests fail)."""
    error_rate: float = 0.0
    latency_ms: float = 12.0
    """The median answer time; answers are log-normal around it (p99 about 3.2 times it)."""
    slow_ms: float = 0.0
    """Added to every answer (the ``green-slow`` fault)."""
    poll_s: float = 1.0
    seed: int = 0
    calls: int = 0
    _windows: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        self.calls += 1
        totals = {"requests": 0, "errors": 0, "elapsed": 0.0}
        latencies: list[float] = []
        # one generator per window, seeded by the slot, its weight and how many windows this process judged at that
        # weight, so that a process resumed after a kill draws the same traffic for the step as an unkilled one
        weight = self.world.weights.get(slot.value, 0)
        nth = self._windows.get((slot.value, weight), 0)
        self._windows[(slot.value, weight)] = nth + 1
        rng = random.Random(f"{self.seed}/{slot.value}/{weight}/{nth}")

        def read(elapsed: float) -> Reading:
            weight = self.world.weights.get(slot.value, 0)
            rate = self.error_rate
            if self.fail_at_weight is not None and weight == self.fail_at_weight:
                rate = max(rate, 0.5)
            arrivals = self.requests_per_s * weight / 100 * max(0.0, elapsed - totals["elapsed"])
            totals["elapsed"] = elapsed
            errors = poisson(rng, arrivals * rate)
            new = errors + poisson(rng, arrivals * (1.0 - rate))
            totals["errors"] += errors
            totals["requests"] += new
            median = math.log(self.latency_ms)
            for _ in range(min(new, LATENCY_SAMPLE)):
                bisect.insort(latencies, self.slow_ms + rng.lognormvariate(median, LATENCY_SPREAD))
            return Reading(
                int(totals["requests"]), int(totals["errors"]),
                p50_ms=_nearest_rank(latencies, 0.5), p99_ms=_nearest_rank(latencies, 0.99),
            )

        return judge_window(
            policy, read, source="simulated traffic", interval_s=self.poll_s, clock=self.clock, interrupted=interrupted
        )


LATENCY_SPREAD = 0.5
"""The log-normal sigma of simulated answer times."""
LATENCY_SAMPLE = 50
"""Answer times drawn per poll at most: a sample of the window's requests, as a source's histogram is."""


def _nearest_rank(ordered: list[float], q: float) -> float | None:
    """``fleet.domain.analysis.quantile`` of an already sorted list."""
    return ordered[max(1, math.ceil(q * len(ordered))) - 1] if ordered else None


def poisson(rng: random.Random, mean: float) -> int:
    """An exact Poisson draw (inversion; large means split into halves, which sum to the same law)."""
    if mean <= 0.0:
        return 0
    if mean > 200.0:
        return poisson(rng, mean / 2) + poisson(rng, mean / 2)
    u = rng.random()
    k, term = 0, math.exp(-mean)
    total = term
    while u > total and term > 0.0:
        k += 1
        term *= mean / k
        total += term
    return k

