"""The ports around a traffic shift: moving the weights, judging the slot's real traffic
afterwards, and the smoke tests that must pass before a weight rises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fleet.domain.model import AnalysisPolicy, SlotName, Weights
from fleet.domain.reports import Verdict
from fleet.domain.traffic import TrafficView
from fleet.ports.clock import Interrupted


@dataclass(frozen=True)
class Applied:
    """A weight change that took effect; analysis may begin after ``settle_s`` (e.g. DNS TTL)."""

    weights: Weights
    settle_s: float = 0.0


class Traffic(Protocol):
    """Reads and moves traffic weights between an environment's two slots."""

    def get_weights(self, env: str) -> Weights: ...

    def observe(self, env: str) -> TrafficView:
        """The provider's own account of both slots: weights, server state, sessions, addresses."""
        ...

    def set_weights(self, env: str, weights: Weights) -> Applied:
        """Apply both slots' weights in one atomic change; return once it is in effect.

        Refuses (ProviderError) to move weight onto a slot the provider's own checks
        hold down, in maintenance or draining.
        """
        ...

    def address_of(self, ingress: str) -> str | None:
        """The address the provider shows for a slot sent to ``ingress``; None where it does not route by address."""
        ...

    def point(self, env: str, slot: SlotName, ingress: str) -> None:
        """Send ``slot``'s share to ``ingress`` (its weight unchanged); a no-op where ``address_of`` is None."""
        ...


class Analysis(Protocol):
    """Judges a slot's real traffic over a window (may decide early on clear evidence)."""

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        """The slot's verdict over ``policy.window_s``.

        When ``interrupted()`` answers True the window is given up at once and
        the verdict is INCONCLUSIVE (an early FAIL already found stands); the
        engine then does what the operator asked instead of recording it.
        """
        ...


@dataclass(frozen=True)
class HookResult:
    ok: bool
    reason: str = ""


class Hooks(Protocol):
    """The environment's (and its tenants') pre-shift smoke tests."""

    def smoke(self, env: str, slot: SlotName, step: int, percent: int) -> HookResult:
        """Run every smoke test before ``slot``'s weight rises to ``percent`` (step from 1); the first failure."""
        ...
