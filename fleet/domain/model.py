"""Environments, slots, versions, weights and policies.

An environment has exactly two cluster slots, ``blue`` and ``green``. Their
roles alternate between cutovers: one is ACTIVE (serving), the other is
STANDBY (present, being brought in or drained) or ABSENT. Traffic weights are
percentages that always sum to 100: an all-zero split is unrepresentable,
because on Route53 all-zero weights mean "split equally", not "no traffic".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise


class SlotName(StrEnum):
    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> SlotName:
        return SlotName.GREEN if self is SlotName.BLUE else SlotName.BLUE


class Role(StrEnum):
    ACTIVE = "active"
    STANDBY = "standby"
    ABSENT = "absent"


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True, order=True)
class Version:
    """A Kubernetes minor version, optionally with a patch level (``1.30`` or ``1.30.2``)."""

    major: int
    minor: int
    patch: int | None = None

    @classmethod
    def parse(cls, text: object) -> Version:
        match = _VERSION.match(str(text).strip()) if isinstance(text, (str, int, float)) else None
        if match is None:
            raise ValueError(f"{text!r} is not a Kubernetes version (expected e.g. 1.30 or 1.30.2)")
        major, minor, patch = match.groups()
        return cls(int(major), int(minor), int(patch) if patch is not None else None)

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}"
        return base if self.patch is None else f"{base}.{self.patch}"


@dataclass(frozen=True)
class Weights:
    """Traffic share per slot in percent; always sums to 100."""

    blue: int
    green: int

    def __post_init__(self) -> None:
        for value in (self.blue, self.green):
            if not 0 <= value <= 100:
                raise ValueError(f"weight {value} is outside 0..100")
        if self.blue + self.green != 100:
            raise ValueError(f"weights {self.blue}/{self.green} do not sum to 100")

    @classmethod
    def all_to(cls, slot: SlotName) -> Weights:
        return cls.split(slot, 100)

    @classmethod
    def split(cls, slot: SlotName, percent: int) -> Weights:
        """``percent`` to ``slot``, the rest to the other slot."""
        if slot is SlotName.BLUE:
            return cls(blue=percent, green=100 - percent)
        return cls(blue=100 - percent, green=percent)

    def of(self, slot: SlotName) -> int:
        return self.blue if slot is SlotName.BLUE else self.green

    def __str__(self) -> str:
        return f"blue {self.blue}% / green {self.green}%"


@dataclass(frozen=True)
class AnalysisPolicy:
    """When a step's traffic counts as healthy, in the manner of Flagger's canary analysis."""

    success_rate: float = 99.0
    p99_latency_ms: float = 500.0
    failed_checks: int = 2
    window_s: float = 60.0
    """The bake time of each weight step: analysis watches this long before a step passes."""
    min_requests: int = 100
    max_extensions: int = 3
    p99_min_requests: int = 200
    """A p99 above the limit fails a window only over this many requests (and ``min_requests``): over fewer
    it is the slowest one or two of them, and the window is INCONCLUSIVE instead."""


class ParityMode(StrEnum):
    STRICT = "strict"
    """Chart or values drift between the slots stops the cutover."""
    WARN = "warn"
    """Chart or values drift is reported and accepted."""


@dataclass(frozen=True)
class HealthPolicy:
    """How the new slot's Flux health is judged once traffic moves (``fleet:health``)."""

    regression_grace_s: float = 180.0
    """How long an object may stay merely in progress (reconciling at the verified revision)."""
    parity: ParityMode = ParityMode.STRICT


@dataclass(frozen=True)
class RolloutPolicy:
    steps: tuple[int, ...] = (10, 25, 50, 100)
    health_timeout_s: float = 1200.0
    analysis: AnalysisPolicy = field(default_factory=AnalysisPolicy)
    health: HealthPolicy = field(default_factory=HealthPolicy)
    handoff_at: int | None = None
    """The new slot's weight (%) at which workloads that must not run twice move to it
    (``fleet:singletons.handoffAt``); None: the environment hands none over (:mod:`fleet.domain.singletons`)."""

    def with_steps(self, steps: tuple[int, ...]) -> RolloutPolicy:
        return replace(self, steps=steps)


@dataclass(frozen=True)
class TeardownPolicy:
    bake_s: float = 1800.0
    confirm: bool = True


@dataclass(frozen=True)
class SlotState:
    role: Role
    version: Version | None = None
    healthy: bool = False


ABSENT_SLOT = SlotState(Role.ABSENT)


def validate_steps(steps: tuple[int, ...]) -> str | None:
    """Why ``steps`` is not a usable weight schedule, or None."""
    if not steps:
        return "needs at least one step"
    if any(not isinstance(s, int) or isinstance(s, bool) for s in steps):
        return "steps must be whole percentages"
    if any(not 0 < s <= 100 for s in steps):
        return "every step must be between 1 and 100"
    if any(b <= a for a, b in pairwise(steps)):
        return "steps must be strictly increasing"
    if steps[-1] != 100:
        return "the last step must be 100"
    return None
