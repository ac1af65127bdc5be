"""Slot-hours in ``fleet status``, ``fleet history`` and the report: rows and JSON from ``fleet.domain.cost``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fleet.domain.cost import EnvironmentCost, Standing, environment_cost, hours, standing
from fleet.domain.machine import EnvironmentState
from fleet.ports import Record


def costs(
    states: Mapping[str, EnvironmentState | None], history: Callable[[str], Iterable[Record]], now: float | None = None
) -> dict[str, EnvironmentCost]:
    """Each environment that ever had a cutover: its slot-hours from its history.

    One that never had one ran one slot throughout; its history is not read (``fleet status`` over
    hundreds of environments reads only the histories that can hold a cost).
    """
    at = time.time() if now is None else now
    return {
        name: environment_cost(name, history(name), at)
        for name, state in states.items()
        if state is not None and state.cutover is not None
    }


def cell(cost: EnvironmentCost | None) -> str:
    """The status column: slot-hours of every cutover, and whether two slots run now."""
    if cost is None or not cost.cutovers:
        return "-"
    now = " (2 slots now)" if cost.both_since is not None else ""
    return hours(cost.both_s) + now


def as_json(cost: EnvironmentCost) -> dict[str, Any]:
    return {
        "slot_hours": round(cost.slot_hours, 4),
        "two_slots_since": cost.both_since,
        "cutovers": [
            {"id": c.id, "target": c.target, "started_at": c.started_at, "outcome": c.outcome,
             "slot_hours": round(c.slot_hours, 4), "two_slots_since": c.both_since}
            for c in cost.cutovers
        ],
    }


def left_standing(
    states: Mapping[str, EnvironmentState | None], found: Mapping[str, EnvironmentCost], now: float | None = None
) -> list[Standing]:
    at = time.time() if now is None else now
    pairs = [(state, found[name]) for name, state in states.items() if state is not None and name in found]
    return standing(pairs, at)


def standing_rows(rows: Iterable[Standing]) -> list[dict[str, Any]]:
    from fleet.cli.render import when

    return [{"environment": s.env, "slot": s.slot, "version": s.version or "-", "since": when(s.since),
             "slot-hours": f"{s.hours:.1f}", "why": s.why} for s in rows]


def cutover_rows(cost: EnvironmentCost) -> list[dict[str, Any]]:
    from fleet.cli.render import when

    return [{"cutover": c.id, "to": c.target, "started": when(c.started_at), "outcome": c.outcome or "in flight",
             "two slots": hours(c.both_s) + (" (still)" if c.both_since is not None else "")}
            for c in cost.cutovers]
