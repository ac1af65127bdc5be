"""Weight only goes to a slot the health gate still passes, step after step."""

from __future__ import annotations

from pathlib import Path

from fleet.domain.machine import Phase
from fleet.domain.model import Weights
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment


def test_a_slot_that_loses_health_mid_shift_gets_no_more_weight_and_is_rolled_back(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.health.lose_health_at = 25
    store = LocalStateStore(tmp_path)

    final = fleet.engine(store).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None
    assert final.cutover.phase is Phase.ROLLED_BACK
    assert final.weights == Weights(blue=100, green=0)
    assert "green became unhealthy" in (final.cutover.reason or "")
    assert "UpgradeFailed" in (final.cutover.reason or "")
    assert [w["green"] for w in fleet.world.weight_changes] == [10, 25, 0]


def test_the_health_check_before_each_increase_is_recorded_in_the_history(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.health.lose_health_at = 50
    store = LocalStateStore(tmp_path)

    fleet.engine(store).cutover(environment(), NEW_VERSION)

    records = store.history("local")
    events = [r.event for r in records]
    shift = events.index("ParityObserved") + 1
    increases = [i for i, r in enumerate(records) if r.event == "WeightsApplied" and r.weights.green > 0]
    checks = [i for i, e in enumerate(events) if e == "HealthReported" and i >= shift]
    assert len(checks) == len(increases) + 1  # one before each increase; the last found the regression
    assert all(check < increase for check, increase in zip(checks, increases, strict=False))
    assert "UpgradeFailed" in str(records[checks[-1]].detail)
    rollback = events.index("WeightsApplied", checks[-1])  # the next weights applied give blue everything back
    assert records[rollback].weights == Weights(100, 0)


def test_a_new_slot_that_keeps_reconciling_at_the_verified_revision_is_not_rolled_back(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.health.flap = (10.0, 4.0)  # every Kustomization reconciles 4 s in every 10 s
    store = LocalStateStore(tmp_path)

    final = fleet.engine(store).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None
    assert final.cutover.phase is Phase.DONE, final.cutover.reason
    assert fleet.health.reports_in_progress > 0, "the flap was never observed: the test proves nothing"


def test_a_new_slot_that_fails_during_the_bake_is_rolled_back_and_the_old_slot_kept(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.health.fail_in_bake = True
    store = LocalStateStore(tmp_path)

    final = fleet.engine(store).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None
    assert final.cutover.phase is Phase.ROLLED_BACK
    assert final.weights == Weights(blue=100, green=0)
    assert fleet.world.destroyed == {}
    phases = [r.phase for r in store.history("local")]
    assert phases.index("BAKE") < phases.index("ROLLING_BACK")
    assert final.cutover.drained_at is not None
    assert fleet.clock.now() < final.cutover.drained_at + final.cutover.teardown.bake_s  # caught during the bake

