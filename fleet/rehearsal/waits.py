"""The rehearsal's time: the system clock, and the compressed waits standing in for the configured ones.

The configured waits (60 s per step, a 30 min teardown bake) are replaced by
:class:`Waits`, printed at the start, so a healthy rehearsal takes about
12 s; ``minRequests`` (and the requests a p99 needs) are scaled to the
traffic a compressed window gets.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from fleet.config import EnvironmentConfig
from fleet.domain.model import AnalysisPolicy, RolloutPolicy, TeardownPolicy


class WallClock:
    """The system clock: history records carry wall-clock times."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass(frozen=True)
class Waits:
    """The rehearsal's waits, standing in for the environment's configured ones."""

    window_s: float = 1.5
    """Each weight step's analysis window (configured: ``stepBake``)."""
    bake_s: float = 1.5
    """The old slot's teardown bake (configured: ``teardown.bake``)."""
    health_timeout_s: float = 4.0
    """How long the health gate waits for Flux (configured: ``healthTimeout``)."""
    grace_s: float = 2.0
    """How long a reconcile may stay in progress once traffic moves (configured: ``health.regressionGrace``)."""
    flap_period_s: float = 0.8
    flap_s: float = 0.3
    """The flux-flap fault: every Kustomization reconciles ``flap_s`` every ``flap_period_s``."""
    provision_s: float = 1.0
    bootstrap_s: float = 0.3
    reconcile_s: float = 0.8
    """How long the simulated Flux takes to reconcile a fresh cluster."""
    drain_s: float = 0.2
    destroy_s: float = 0.2
    rate: float = 200.0
    """Requests per second the load generator sends through HAProxy."""

    def min_requests(self, policy: AnalysisPolicy, first_step: int) -> int:
        """The configured minRequests, capped at half of what the first step's window can see."""
        expected = self.rate * first_step / 100 * self.window_s
        return max(1, min(policy.min_requests, math.floor(expected / 2)))

    def rollout(self, configured: RolloutPolicy) -> RolloutPolicy:
        wanted = self.min_requests(configured.analysis, configured.steps[0])
        analysis = replace(
            configured.analysis,
            window_s=self.window_s,
            min_requests=wanted,
            p99_min_requests=min(configured.analysis.p99_min_requests, wanted),
        )
        health = replace(configured.health, regression_grace_s=self.grace_s)
        return replace(configured, health_timeout_s=self.health_timeout_s, analysis=analysis, health=health)

    def teardown(self, configured: TeardownPolicy) -> TeardownPolicy:
        return replace(configured, bake_s=self.bake_s)

    def total_s(self, steps: int) -> float:
        """The sum of the waits of a healthy cutover with ``steps`` weight steps."""
        return (
            self.provision_s + self.bootstrap_s + self.reconcile_s + steps * self.window_s
            + self.bake_s + self.drain_s + self.destroy_s
        )

    def rows(self, config: EnvironmentConfig) -> list[dict[str, str]]:
        r, a = config.rollout, config.rollout.analysis
        return [
            {"wait": "analysis window per step", "configured": _s(a.window_s), "rehearsal": _s(self.window_s)},
            {"wait": "minRequests per window", "configured": str(a.min_requests),
             "rehearsal": str(self.min_requests(a, r.steps[0]))},
            {"wait": "requests a p99 needs", "configured": str(max(a.min_requests, a.p99_min_requests)),
             "rehearsal": str(self.min_requests(a, r.steps[0]))},
            {"wait": "health timeout", "configured": _s(r.health_timeout_s), "rehearsal": _s(self.health_timeout_s)},
            {"wait": "regression grace", "configured": _s(r.health.regression_grace_s),
             "rehearsal": _s(self.grace_s)},
            {"wait": "teardown bake", "configured": _s(config.teardown.bake_s), "rehearsal": _s(self.bake_s)},
            {"wait": "provision + bootstrap", "configured": "(cloud)",
             "rehearsal": _s(self.provision_s + self.bootstrap_s)},
            {"wait": "Flux reconcile", "configured": "(cluster)", "rehearsal": _s(self.reconcile_s)},
            {"wait": "load", "configured": "(users)", "rehearsal": f"{self.rate:g} req/s"},
        ]

    def to_json(self) -> dict[str, float]:
        return dict(self.__dict__)


REAL_WORLD_WAITS = Waits(health_timeout_s=240.0, reconcile_s=0.0)
"""Real Flux reconciles a fresh cluster in tens of seconds on a small machine; the gate waits for it."""


def _s(seconds: float) -> str:
    return f"{seconds:g}s"
