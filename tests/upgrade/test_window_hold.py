"""A cutover that would run past its maintenance window holds at its last confirmed step; resume continues."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.domain.machine import Phase
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment


def _shift_start(tmp_path: Path) -> tuple[float, float]:
    """When SHIFT begins after the start, and the analysis window, in a run without a window."""
    fleet = Fleet()
    store = LocalStateStore(tmp_path / "reference")
    start = fleet.clock.now()
    fleet.engine(store).cutover(environment(), NEW_VERSION)
    shift = next(r.at for r in store.history("local") if r.phase == "SHIFT")
    return shift - start, environment().rollout.analysis.window_s


@pytest.mark.parametrize("steps_fit", [0, 1, 2])
def test_window_closing_mid_shift_holds_then_resume_in_the_next_window_finishes(tmp_path: Path, steps_fit: int) -> None:
    to_shift, window_s = _shift_start(tmp_path)
    fleet = Fleet()
    store = LocalStateStore(tmp_path / "state")
    start = fleet.clock.now()
    end = start + to_shift + (steps_fit + 0.5) * window_s * 1.2

    held = fleet.engine(store).cutover(environment(), NEW_VERSION, window_end=end)

    c = held.cutover
    assert c is not None and c.phase is Phase.SHIFT and c.paused is not None, c
    assert "maintenance window" in c.paused and "fleet resume local" in c.paused
    records = store.history("local")
    events = [r.event for r in records]
    assert "RollbackRequested" not in events and held.weights.green < 100
    increases = [r for r in records if r.event == "WeightsApplied"]
    assert all(r.at + window_s <= end for r in increases), "no step starts that cannot finish in the window"
    applied = [r.weights.green for r in increases]
    assert held.weights.green == (applied[-1] if applied else 0)
    assert events[-1] == "AnalysisCompleted" or not applied, "held right after a confirmed step"

    fleet.clock.sleep(6 * 86400)  # the next window
    done = fleet.engine(store).resume("local", window_end=fleet.clock.now() + 4 * 3600)

    assert done.cutover is not None and done.cutover.phase is Phase.DONE
    assert fleet.world.weights == {"blue": 0, "green": 100}


def test_a_bake_past_the_window_end_holds_before_teardown(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)
    reference = Fleet()
    ref_store = LocalStateStore(tmp_path / "ref")
    start = reference.clock.now()
    reference.engine(ref_store).cutover(environment(), NEW_VERSION)
    bake = next(r.at for r in ref_store.history("local") if r.phase == "BAKE") - start

    held = fleet.engine(store).cutover(environment(), NEW_VERSION, window_end=fleet.clock.now() + bake + 60)

    c = held.cutover
    assert c is not None and c.phase is Phase.BAKE and c.paused is not None
    assert fleet.world.weights == {"blue": 0, "green": 100} and "blue" in fleet.world.clusters
    assert fleet.clock.now() < start + bake + c.teardown.bake_s, "it did not sit out the bake past the window"

    done = fleet.engine(store).resume("local", window_end=None)
    assert done.cutover is not None and done.cutover.phase is Phase.DONE and "blue" not in fleet.world.clusters


def test_the_way_back_is_never_held_by_the_window(tmp_path: Path) -> None:
    """After the window closed, a rollback (here of the held cutover) still runs to the end."""
    to_shift, window_s = _shift_start(tmp_path)
    fleet = Fleet()
    store = LocalStateStore(tmp_path / "state")
    end = fleet.clock.now() + to_shift + 1.5 * window_s
    held = fleet.engine(store).cutover(environment(), NEW_VERSION, window_end=end)
    assert held.cutover is not None and held.cutover.paused is not None and held.weights.green > 0
    fleet.clock.sleep(3600)

    final = fleet.engine(store).rollback("local", reason="window closed, giving up")

    c = final.cutover
    assert c is not None and c.phase is Phase.ROLLED_BACK and c.paused is None
    assert fleet.world.weights == {"blue": 100, "green": 0} and c.updated_at > end
