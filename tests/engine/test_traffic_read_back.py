"""The engine reads the traffic provider back: drift halts, a busy old slot is not torn down, a lost lock stops.

The fakes stand for the provider here; tests/traffic does the same against a
real HAProxy (reloads, maintenance, addresses).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.domain.machine import Phase
from fleet.domain.model import SlotName, Version, Weights
from fleet.domain.reports import SlotOutputs
from fleet.domain.traffic import ServerState
from fleet.errors import LockedError, ProvisioningFailed
from fleet.ports import Layout, LockInfo
from fleet.rehearsal.sim import FakeProvisioner
from fleet.state.lease import encode_lock
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment


def _once(name: str, action: Callable[[], None]) -> Callable[[str], None]:
    done: list[str] = []

    def hook(point: str) -> None:
        if point == name and not done:
            done.append(point)
            action()

    return hook


def test_a_hand_edit_mid_shift_halts_the_step_and_resume_reapplies_the_record(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)

    def hand_edit() -> None:
        fleet.world.weights = {"blue": 50, "green": 50}

    final = fleet.engine(store, checkpoint=_once("after-commit:AnalysisCompleted", hand_edit)).cutover(
        environment(), NEW_VERSION
    )

    c = final.cutover
    assert c is not None and c.phase is Phase.SHIFT and c.held is not None
    assert "fleet recorded blue 90% / green 10%" in c.held and "fake has blue 50% / green 50%" in c.held
    assert fleet.world.weights == {"blue": 50, "green": 50}, "drift is reported, never silently overwritten"
    assert [r.event for r in store.history("local")][-1] == "DriftObserved"

    resumed = fleet.engine(store).resume("local")

    assert resumed.cutover is not None and resumed.cutover.phase is Phase.DONE
    assert [w["green"] for w in fleet.world.weight_changes] == [10, 10, 25, 50, 100]


def test_a_forgotten_address_halts_the_step(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)

    def reload_without_state() -> None:
        fleet.traffic.addresses[SlotName.GREEN] = "127.0.0.1:9"

    final = fleet.engine(store, checkpoint=_once("after-commit:AnalysisCompleted", reload_without_state)).cutover(
        environment(), NEW_VERSION
    )

    assert final.cutover is not None and final.cutover.held is not None
    assert "green's share to 127.0.0.1:9, fleet set local-green-ingress.invalid" in final.cutover.held
    fleet.engine(store).resume("local")
    assert fleet.traffic.addresses[SlotName.GREEN] == "local-green-ingress.invalid", "resume points green again"


def test_the_old_slot_is_not_torn_down_while_it_holds_sessions(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)

    def busy() -> None:
        fleet.traffic.sessions[SlotName.BLUE] = 3

    final = fleet.engine(store, checkpoint=_once("before:DrainSlot", busy)).cutover(environment(), NEW_VERSION)

    c = final.cutover
    assert c is not None and c.phase is Phase.TEARDOWN_OLD and c.held is not None
    assert "still holds 3 session(s) to blue" in c.held
    assert "blue" in fleet.world.clusters and fleet.provisioner.calls.count("destroy blue") == 0

    fleet.traffic.sessions.clear()
    assert fleet.engine(store).resume("local").cutover.phase is Phase.DONE  # type: ignore[union-attr]
    assert "blue" not in fleet.world.clusters


def test_weight_is_not_moved_onto_a_server_in_maintenance(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.traffic.states[SlotName.GREEN] = ServerState.MAINT

    final = fleet.engine(LocalStateStore(tmp_path)).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None and final.cutover.phase is Phase.ROLLED_BACK
    assert "green's server in maintenance (MAINT)" in (final.cutover.reason or "")
    assert fleet.world.weight_changes == [] or fleet.world.weights == {"blue": 100, "green": 0}


def test_a_rollback_onto_a_down_old_slot_is_refused_and_halts(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.analysis.fail_at_weight = 25
    store = LocalStateStore(tmp_path)

    def blue_goes_down() -> None:
        fleet.traffic.states[SlotName.BLUE] = ServerState.DOWN

    final = fleet.engine(store, checkpoint=_once("before:Analyse", blue_goes_down)).cutover(environment(), NEW_VERSION)

    c = final.cutover
    assert c is not None and c.phase is Phase.ROLLING_BACK
    assert "blue's server DOWN by its health checks" in (c.reason or "")
    assert fleet.world.weights == {"blue": 75, "green": 25}

    fleet.traffic.states.clear()
    assert fleet.engine(store).resume("local").cutover.phase is Phase.ROLLED_BACK  # type: ignore[union-attr]
    assert fleet.world.weights == {"blue": 100, "green": 0}


class _BlockingProvisioner(FakeProvisioner):
    """Provisioning that runs until cancelled (a long ``pulumi up``)."""

    started: threading.Event
    released: threading.Event

    def provision(self, layout: Layout, slot: SlotName, version: Version) -> SlotOutputs:
        self.calls.append(f"provision {slot}")
        self.started.set()
        if not self.released.wait(10):
            raise AssertionError("the call was never cancelled")
        raise ProvisioningFailed("pulumi: update cancelled")

    def cancel(self, why: Exception) -> None:
        super().cancel(why)
        self.released.set()


def test_a_lost_lease_cancels_the_long_call_and_stops_before_the_next_side_effect(tmp_path: Path) -> None:
    fleet = Fleet()
    blocking = _BlockingProvisioner(fleet.clock, fleet.world)
    blocking.started, blocking.released = threading.Event(), threading.Event()
    fleet.provisioner = blocking
    store = LocalStateStore(tmp_path)
    engine = fleet.engine(store)
    engine.lease_s = 0.3
    thief = LockInfo("ci", "runner-7", 999_999, 0.0, 4e9, "someone-else")

    def take_over() -> None:
        assert blocking.started.wait(10)
        (tmp_path / "local" / "lock.json").write_text(encode_lock(thief))

    taker = threading.Thread(target=take_over)
    taker.start()
    with pytest.raises(LockedError, match=r"ci@runner-7 \(pid 999999\)"):
        engine.cutover(environment(), NEW_VERSION)
    taker.join()

    assert isinstance(blocking.cancelled, LockedError)
    assert blocking.calls == ["provision green"], "nothing after the cancelled call"
    events = [r.event for r in store.history("local")]
    assert events == ["CutoverRequested"], "the cancelled call is not recorded"
    assert fleet.world.weights == {"blue": 100, "green": 0}
    assert store.load("local").weights == Weights(100, 0)  # type: ignore[union-attr]
