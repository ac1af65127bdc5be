"""Slot-hours: how long an environment ran a second cluster, per cutover, from the history alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.domain.cost import environment_cost, standing
from fleet.domain.gates import GatePolicy
from fleet.domain.machine import Phase
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment


def first(records: list[Any], event: str) -> float:
    return float(next(r.at for r in records if r.event == event))


def test_a_done_cutover_pays_from_its_start_until_the_old_slot_is_destroyed(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)
    final = fleet.engine(store).cutover(environment(), NEW_VERSION)
    assert final.cutover is not None and final.cutover.phase is Phase.DONE
    records = store.history("local")

    cost = environment_cost("local", records, now=fleet.clock.now() + 10_000)

    (only,) = cost.cutovers
    expected = first(records, "SlotDestroyed") - first(records, "CutoverRequested")
    assert only.both_s == expected and expected > 1800  # includes the 30 min teardown bake
    assert only.outcome == "DONE" and only.both_since is None
    assert cost.slot_hours == expected / 3600
    assert standing([(final, cost)], fleet.clock.now()) == []


def test_a_slot_left_after_a_rollback_costs_until_the_next_cutover_and_is_listed_oldest_first(tmp_path: Path) -> None:
    fleet = Fleet()
    other = Fleet(clock=fleet.clock)
    store = LocalStateStore(tmp_path)
    engine = fleet.engine(store)
    held = engine.cutover(environment(), NEW_VERSION, gates=GatePolicy(approve=(2,)))
    assert held.cutover is not None and held.cutover.awaiting_approval == 2
    started = first(store.history("local"), "CutoverRequested")

    waiting = environment_cost("local", store.history("local"), now=started + 600)
    assert waiting.cutovers[0].both_since == started
    assert [s.why for s in standing([(held, waiting)], started + 600)] == ["waiting for a person"]

    rolled = engine.rollback("local", reason="not today")
    assert rolled.cutover is not None and rolled.cutover.phase is Phase.ROLLED_BACK
    fleet.clock.sleep(7200)
    later = other.engine(LocalStateStore(tmp_path / "b")).cutover(environment("b"), NEW_VERSION,
                                                                  gates=GatePolicy(approve=(1,)))
    now = fleet.clock.now()
    cost_a = environment_cost("local", store.history("local"), now)
    cost_b = environment_cost("b", LocalStateStore(tmp_path / "b").history("b"), now)
    assert cost_a.cutovers[0].outcome == "ROLLED_BACK"
    assert cost_a.both_s == now - started
    found = standing([(later, cost_b), (rolled, cost_a)], now)
    assert [(s.env, s.slot, s.why) for s in found] == [
        ("local", "green", "ROLLED_BACK"), ("b", "green", "waiting for a person")
    ]  # the older first
    assert found[0].hours == (now - started) / 3600

    fleet.clock.sleep(3600)
    done = engine.cutover(environment(), NEW_VERSION)
    assert done.cutover is not None and done.cutover.phase is Phase.DONE
    records = store.history("local")
    cost = environment_cost("local", records, fleet.clock.now())
    second_start = [r.at for r in records if r.event == "CutoverRequested"][1]
    assert cost.cutovers[0].both_s == second_start - started, "the rolled-back cutover pays until the next one"
    assert cost.cutovers[1].both_s == first(records[::-1], "SlotDestroyed") - second_start
    assert cost.both_since is None
