"""A fleet of in-memory environments for ``fleet upgrade``'s rollout: the real engine and store, fake clusters.

Each environment's cutover runs on its own in-memory world (fakes of :mod:`fleet.rehearsal.sim`)
with the real engine, committing to one shared real state store, as ``fleet upgrade``'s
processes would. Time is either simulated (:class:`~fleet.rehearsal.sim.FakeClock`, a cutover in
milliseconds) or compressed (:class:`CompressedClock`: real sleeps, ``scale`` real seconds
per simulated second), which is what the wave benchmark measures parallelism with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.config import EnvironmentConfig
from fleet.domain.model import AnalysisPolicy, RolloutPolicy, TeardownPolicy, Version
from fleet.domain.waves import Action, EnvPlan, EnvView
from fleet.engine import Engine, RetryPolicy
from fleet.ports import StateStore
from fleet.rehearsal.sim import FakeClock
from fleet.upgrade.rollout import RunResult, view
from fleet.upgrade.sources import StaticVersions
from tests.fleetkit import ACTOR, Fleet

START = 1_767_225_600.0


def _listed(config: EnvironmentConfig) -> StaticVersions:
    return StaticVersions(tuple(Version.parse(v) for v in config.raw["upgrade"]["versions"]))


class CompressedClock:
    """Real time, compressed: ``sleep(s)`` sleeps ``s * scale`` real seconds."""

    def __init__(self, scale: float, start: float = START) -> None:
        self.scale = scale
        self.start = start
        self.t0 = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self.t0) / self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds * self.scale)


def env_config(name: str, wave: str, *, version: str = "1.29", channel: str = "minor",
               versions: Sequence[str] = ("1.29", "1.30"), windows: list[dict[str, Any]] | None = None,
               fast: bool = False) -> EnvironmentConfig:
    upgrade: dict[str, Any] = {"channel": channel, "wave": wave, "versions": list(versions)}
    if windows:
        upgrade["windows"] = windows
    rollout = RolloutPolicy(steps=(50, 100), analysis=AnalysisPolicy(window_s=60.0)) if fast else RolloutPolicy()
    return EnvironmentConfig(
        name=name, file=f"stacks/Pulumi.{name}.yaml", version=Version.parse(version), rollout=rollout,
        teardown=TeardownPolicy(bake_s=120.0 if fast else 1800.0, confirm=False), hostnames=("app.test",),
        traffic={"provider": "haproxy"},
        raw={"cluster": {"driver": "local", "version": version}, "upgrade": upgrade},
    )


@dataclass
class WorldRunner:
    """``Runner`` of :mod:`fleet.upgrade.rollout` over in-memory worlds; ``failing`` environments roll back."""

    configs: dict[str, EnvironmentConfig]
    store: StateStore
    failing: set[str] = field(default_factory=set)
    clock: Callable[[], Any] | None = None
    """A clock per run (CompressedClock); None: simulated time starting at ``now``."""
    now: float = START
    started: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, plan: EnvPlan) -> RunResult:
        clock = self.clock() if self.clock is not None else FakeClock(self.now)
        fleet = Fleet(clock=clock)
        if plan.env in self.failing:
            fleet.analysis.error_rate = 0.5
        with self._lock:
            self.started.append(plan.env)
        engine = Engine(self.store, fleet.ports(), retry=RetryPolicy(attempts=2, base_s=1.0, max_s=2.0, budget_s=10.0),
                        actor=ACTOR)
        config = self.configs[plan.env]
        began = time.monotonic()
        if plan.action is Action.RESUME:
            final = engine.resume(plan.env, window_end=plan.window_end)
        else:
            assert plan.target is not None
            final = engine.cutover(config, plan.target, window_end=plan.window_end)
        with self._lock:
            self.durations[plan.env] = time.monotonic() - began
            self.now = max(self.now, clock.now())
        c = final.cutover
        assert c is not None
        return RunResult(plan.env, c.phase.value, c.phase.value == "DONE", c.reason or "", 0 if c.phase.value == "DONE"
                         else 1)

    def read(self, waves: Sequence[str]) -> tuple[list[EnvView], float]:
        at = self.now if self.clock is None else time.time()
        views = [view(c, self.store.load(c.name), at=at, waves=waves, source=_listed) for c in self.configs.values()]
        return views, at
