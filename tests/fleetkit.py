"""Builders shared by the behaviour suites: an environment's configuration and an in-memory fleet."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fleet.config import EnvironmentConfig
from fleet.domain.model import RolloutPolicy, TeardownPolicy, Version
from fleet.engine import Checkpoint, Engine, Ports, RetryPolicy
from fleet.ports import StateStore
from fleet.rehearsal.sim import (
    FakeAnalysis,
    FakeClock,
    FakeHealth,
    FakeProvisioner,
    FakeTraffic,
    RecordingNotifier,
    World,
)

OLD_VERSION = Version(1, 29)
NEW_VERSION = Version(1, 30)
ACTOR = {"user": "tester", "host": "test-host", "pid": "4242"}


def environment(
    name: str = "local",
    *,
    version: Version = OLD_VERSION,
    steps: tuple[int, ...] = (10, 25, 50, 100),
    confirm: bool = False,
) -> EnvironmentConfig:
    return EnvironmentConfig(
        name=name,
        file=f"stacks/Pulumi.{name}.yaml",
        version=version,
        rollout=RolloutPolicy(steps=steps),
        teardown=TeardownPolicy(confirm=confirm),
        hostnames=("app.local.test",),
        traffic={"provider": "haproxy"},
    )


@dataclass
class Fleet:
    """The fakes wired together, with the old slot (blue) live at 1.29."""

    world: World = field(default_factory=World)
    clock: FakeClock = field(default_factory=FakeClock)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    provisioner: FakeProvisioner = field(init=False)
    health: FakeHealth = field(init=False)
    traffic: FakeTraffic = field(init=False)
    analysis: FakeAnalysis = field(init=False)
    answer: bool = True

    def __post_init__(self) -> None:
        if not self.world.clusters:
            self.world.clusters["blue"] = "1.29"
            self.world.bootstrapped.append("blue")
        self.provisioner = FakeProvisioner(self.clock, self.world)
        self.health = FakeHealth(self.clock, self.world)
        self.traffic = FakeTraffic(self.clock, self.world)
        self.analysis = FakeAnalysis(self.clock, self.world)

    def ports(self) -> Ports:
        return Ports(
            self.provisioner,
            self.health,
            self.traffic,
            self.analysis,
            self.clock,
            self.notifier,
            confirm=lambda question: self.answer,
        )

    def engine(
        self,
        store: StateStore,
        *,
        checkpoint: Checkpoint | None = None,
        retry: RetryPolicy | None = None,
        actor: dict[str, str] | None = None,
    ) -> Engine:
        return Engine(
            store,
            self.ports(),
            retry=retry or RetryPolicy(attempts=4, base_s=1.0, max_s=8.0, budget_s=60.0),
            checkpoint=checkpoint or (lambda name: None),
            actor=actor if actor is not None else ACTOR,
            rng=random.Random(7),
        )
