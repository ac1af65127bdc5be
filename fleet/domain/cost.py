"""The cost of blue/green: how long an environment ran two clusters instead of one.

A cutover pays for a second cluster from the moment its slot is being
created until one of the two is destroyed. On a DONE cutover that is
provisioning plus the traffic shift plus the teardown bake; after a
rollback, an abort or a halt the new slot stays standing (for inspection,
and the next cutover converges it), and it costs until someone destroys it
or the next cutover does. These figures are derived from the history
alone, so they need no new records and hold for every cutover ever run:

- a slot exists from the start of the cutover that provisioned it (the
  ``CutoverRequested`` before its ``SlotProvisioned``: a slot costs while it
  is created) until its ``SlotDestroyed``;
- the environment's first active slot exists throughout;
- time with two slots belongs to the last cutover requested before it, so
  a slot left standing after a rollback is that cutover's cost.

"Slot-hours" here are the hours of the second slot: the extra cluster the
blue/green method pays for, on top of the one that always runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleet.domain.machine import EnvironmentState, Phase


class _Record(Protocol):
    @property
    def at(self) -> float: ...

    @property
    def event(self) -> str: ...

    @property
    def detail(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class CutoverCost:
    id: str
    target: str
    started_at: float
    both_s: float
    """Seconds during which both slots existed, within this cutover's share of the history."""
    both_since: float | None
    """When both slots last began to exist; None when they do not both exist now."""
    outcome: str | None = None

    @property
    def slot_hours(self) -> float:
        return self.both_s / 3600.0


@dataclass(frozen=True)
class EnvironmentCost:
    env: str
    cutovers: tuple[CutoverCost, ...] = field(default_factory=tuple)

    @property
    def both_s(self) -> float:
        return sum(c.both_s for c in self.cutovers)

    @property
    def slot_hours(self) -> float:
        return self.both_s / 3600.0

    @property
    def both_since(self) -> float | None:
        return self.cutovers[-1].both_since if self.cutovers else None


@dataclass(frozen=True)
class Standing:
    """A second slot left standing by a cutover that stopped short of DONE."""

    env: str
    slot: str
    version: str | None
    since: float
    hours: float
    why: str


_ENDS = {"DONE", "ROLLED_BACK", "ABORTED", "FAILED"}


def environment_cost(env: str, records: Iterable[_Record], now: float) -> EnvironmentCost:
    """Slot-hours per cutover of ``env`` from its history, intervals still open counted until ``now``."""
    present: set[str] = set()
    initial_known = False
    cutovers: list[dict[str, Any]] = []
    requested_at: float | None = None
    both_since: float | None = None

    def close(at: float) -> None:
        nonlocal both_since
        if both_since is not None and cutovers:
            cutovers[-1]["both_s"] += max(0.0, at - both_since)
        both_since = None

    for r in records:
        detail = r.detail
        match r.event:
            case "CutoverRequested":
                if both_since is not None:
                    close(r.at)
                    both_since = r.at  # still two slots: the new cutover pays from here
                cutovers.append({"id": str(detail.get("id", "?")), "target": str(detail.get("target", "?")),
                                 "started_at": r.at, "both_s": 0.0, "outcome": None})
                requested_at = r.at
            case "SlotProvisioned":
                slot = str(detail.get("slot"))
                if not initial_known:
                    present.add(_other(slot))
                    initial_known = True
                if slot not in present:
                    present.add(slot)
                    if len(present) == 2 and both_since is None:
                        both_since = requested_at if requested_at is not None else r.at
            case "SlotDestroyed":
                slot = str(detail.get("slot"))
                if not initial_known:
                    present.add(slot)
                    initial_known = True
                if len(present) == 2:
                    close(r.at)
                present.discard(slot)
        if cutovers and r.event != "CutoverRequested":
            phase = getattr(r, "phase", None)
            if phase in _ENDS:
                cutovers[-1]["outcome"] = phase
    open_since = both_since
    if both_since is not None:
        close(now)
    result = tuple(
        CutoverCost(c["id"], c["target"], c["started_at"], c["both_s"],
                    open_since if i == len(cutovers) - 1 else None, c["outcome"])
        for i, c in enumerate(cutovers)
    )
    return EnvironmentCost(env, result)


def _other(slot: str) -> str:
    return "green" if slot == "blue" else "blue"


def standing(states: Sequence[tuple[EnvironmentState, EnvironmentCost]], now: float) -> list[Standing]:
    """Second slots left by cutovers that stopped short of DONE (rolled back, aborted, halted), oldest first."""
    found: list[Standing] = []
    for state, cost in states:
        c = state.cutover
        since = cost.both_since
        if c is None or since is None:
            continue
        stopped = c.phase in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED) or bool(c.held)
        waiting = c.awaiting_confirmation or c.awaiting_approval is not None
        if not (stopped or waiting):
            continue
        slot = c.new if c.phase is not Phase.DONE else c.old
        version = state.slot(slot).version
        why = c.phase.value if stopped and not c.held else ("held" if c.held else "waiting for a person")
        found.append(Standing(state.env, slot.value, None if version is None else str(version), since,
                              max(0.0, now - since) / 3600.0, why))
    return sorted(found, key=lambda s: s.since)


def hours(seconds: float) -> str:
    """``0.4 h``, ``12 h``: slot-hours for people."""
    h = seconds / 3600.0
    return f"{h:.1f} h" if h < 10 else f"{h:.0f} h"
