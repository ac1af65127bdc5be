"""The real engine on a real HAProxy: what the traffic tests and ``bench/traffic.py`` run.

Only what is not about traffic is a stand-in: the slots stand already at the
addresses HAProxy knows (provisioning and bootstrap are instant), Flux reports
them reconciled (:class:`fleet.rehearsal.sim.FakeHealth`), and state and history live
in memory. The weights move through :class:`HAProxyTraffic`, every step is
judged by the real analysis source, and the cutover goes through the same
driver, executor and transition function as ``fleet cutover``.

The traffic and analysis ports are handed over inside :class:`Timeline`,
which passes every call through and notes when it returned (on the monotonic
clock the load generator uses): when each step's weights were set, each
verdict, and when all traffic was back on the old slot.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from fleet.domain.machine import EnvironmentState, Phase
from fleet.domain.model import AnalysisPolicy, HealthPolicy, RolloutPolicy, SlotName, TeardownPolicy, Version, Weights
from fleet.domain.reports import Secret, SlotOutputs, Verdict
from fleet.domain.traffic import TrafficView
from fleet.engine import Engine, Ports, RetryPolicy
from fleet.ports import Analysis, Applied, Interrupted, Traffic
from fleet.rehearsal.haproxy_process import HAProxyProcess
from fleet.rehearsal.sim import FakeHealth, FakeProvisioner, RecordingNotifier, World
from fleet.wiring import SystemClock
from tests.fleetkit import ACTOR, environment
from tests.worlds.memory_store import MemoryStateStore

OLD_VERSION = Version(1, 29)
NEW_VERSION = Version(1, 30)


@dataclass
class StepLog:
    weights: Weights
    verdicts: list[Verdict]
    set_at: float


@dataclass
class DriveResult:
    completed: bool
    steps: list[StepLog]
    rolled_back_at: float | None = None
    started_at: float = 0.0
    verdicts: list[tuple[float, Verdict]] = field(default_factory=list)
    state: EnvironmentState | None = None


class Timeline:
    """The engine's traffic and analysis ports, passed through, with the time each call returned."""

    def __init__(self, traffic: Traffic, analysis: Analysis, new: SlotName) -> None:
        self.inner_traffic = traffic
        self.inner_analysis = analysis
        self.new = new
        self.result = DriveResult(False, [], started_at=time.monotonic())

    # Traffic
    def get_weights(self, env: str) -> Weights:
        return self.inner_traffic.get_weights(env)

    def observe(self, env: str) -> TrafficView:
        return self.inner_traffic.observe(env)

    def address_of(self, ingress: str) -> str | None:
        return self.inner_traffic.address_of(ingress)

    def point(self, env: str, slot: SlotName, ingress: str) -> None:
        self.inner_traffic.point(env, slot, ingress)

    def set_weights(self, env: str, weights: Weights) -> Applied:
        applied = self.inner_traffic.set_weights(env, weights)
        at = time.monotonic()
        share = applied.weights.of(self.new)
        if share == 0 and self.result.steps:
            self.result.rolled_back_at = self.result.rolled_back_at or at
        elif share > 0 and (not self.result.steps or self.result.steps[-1].weights != applied.weights):
            self.result.steps.append(StepLog(applied.weights, [], at))
        return applied

    # Analysis
    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        verdict = self.inner_analysis.analyse(env, slot, policy, interrupted=interrupted)
        self.result.verdicts.append((time.monotonic(), verdict))
        if self.result.steps:
            self.result.steps[-1].verdicts.append(verdict)
        return verdict


class StandingSlots(FakeProvisioner):
    """Both slots stand already, each at the address its HAProxy server was started with."""

    def __init__(self, clock: SystemClock, world: World, ingress: dict[SlotName, str]) -> None:
        super().__init__(clock, world, provision_s=0.0, bootstrap_s=0.0, drain_s=0.0, destroy_s=0.0)
        self.ingress = ingress

    def outputs(self, env: str, slot: SlotName) -> SlotOutputs | None:
        version = self.world.clusters.get(slot.value)
        if version is None:
            return None
        return SlotOutputs(
            slot=slot, version=Version.parse(version), endpoint=f"https://{env}-{slot}.k8s.invalid",
            ingress=self.ingress[slot], kubeconfig=Secret(f"kubeconfig-{env}-{slot}"),
        )


def engine_cutover(
    proxy: HAProxyProcess,
    traffic: Traffic,
    analysis: Analysis,
    *,
    env: str,
    steps: tuple[int, ...],
    policy: AnalysisPolicy,
    bake_s: float = 0.2,
) -> DriveResult:
    """A whole cutover blue -> green through :class:`fleet.engine.Engine`; returns what the users' side saw."""
    clock = SystemClock()
    world = World(clusters={"blue": str(OLD_VERSION)}, bootstrapped=["blue"])
    ingress = {SlotName(spec.name): f"{spec.address[0]}:{spec.address[1]}" for spec in proxy.servers}
    timeline = Timeline(traffic, analysis, SlotName.GREEN)
    ports = Ports(
        provisioner=StandingSlots(clock, world, ingress),
        health=FakeHealth(clock, world, reconcile_s=0.0, tick_s=0.05, poll_s=0.05),
        traffic=timeline,
        analysis=timeline,
        clock=clock,
        notifier=RecordingNotifier(),
    )
    store = MemoryStateStore(now=clock.now)
    engine = Engine(
        store, ports, retry=RetryPolicy(attempts=3, base_s=0.05, max_s=0.2, budget_s=2.0), actor=ACTOR,
        rng=random.Random(7),
    )
    rollout = RolloutPolicy(steps=steps, health_timeout_s=30.0, analysis=policy, health=HealthPolicy())
    timeline.result.started_at = time.monotonic()
    state = engine.cutover(
        environment(env, version=OLD_VERSION, steps=steps), NEW_VERSION, rollout=rollout,
        teardown=TeardownPolicy(bake_s=bake_s, confirm=False),
    )
    result = timeline.result
    result.state = state
    result.completed = state.cutover is not None and state.cutover.phase is Phase.DONE
    return result
