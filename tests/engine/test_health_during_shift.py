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

    events = [r.event for r in store.history("local")]
    assert "HealthChanged" in events
    assert events.index("HealthChanged") < events.index("WeightsApplied", events.index("HealthChanged"))
