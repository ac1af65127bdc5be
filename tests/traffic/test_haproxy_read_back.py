"""fleet against a real HAProxy's own account: addresses, reloads, maintenance, odd names, a socket that hangs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fleet.adapters.traffic.haproxy import HAProxyTraffic, _server_state
from fleet.domain.machine import Phase
from fleet.domain.model import SlotName, Weights
from fleet.domain.reports import SlotOutputs
from fleet.domain.traffic import ServerState, TrafficView
from fleet.engine import RetryPolicy
from fleet.errors import ConfigError, ProviderError, TransientError
from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.haproxy_process import HAProxyProcess
from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.load import LoadGenerator, failures, in_range, observed_split
from fleet.rehearsal.sim import FakeProvisioner
from fleet.rehearsal.sim_provisioner import RecordingTraffic
from fleet.state.local import LocalStateStore
from fleet.wiring import SystemClock
from tests.fleetkit import NEW_VERSION, Fleet, environment
from tests.traffic.support import needs_haproxy


class _Addressed(FakeProvisioner):
    """The fake provisioner, with each slot's ingress where its stand-in backend listens."""

    ingress: dict[str, str]

    def outputs(self, env: str, slot: SlotName) -> SlotOutputs | None:
        found = super().outputs(env, slot)
        return None if found is None else replace(found, ingress=self.ingress[slot.value])


class _Crash(Exception):
    pass


def haproxy_test(test: Any) -> Any:
    for mark in needs_haproxy:
        test = mark(test)
    return test


def _fleet(haproxy: HAProxyProcess, backends: dict[str, SlotBackend]) -> Fleet:
    fleet = Fleet()
    provisioner = _Addressed(fleet.clock, fleet.world)
    provisioner.ingress = {name: f"{b.address[0]}:{b.address[1]}" for name, b in backends.items()}
    fleet.provisioner = provisioner
    # The fake analysis judges the split the world records: RecordingTraffic writes it there.
    fleet.traffic = RecordingTraffic(HAProxyTraffic(haproxy.socket_path), fleet.world)  # type: ignore[assignment]
    return fleet


@pytest.fixture
def misdirected(backends: dict[str, SlotBackend]) -> Iterator[HAProxyProcess]:
    """HAProxy whose green server points at a port nothing listens on, as a config file written before green."""
    servers = {"blue": backends["blue"].address, "green": ("127.0.0.1", free_port())}
    with HAProxyProcess(servers, weights={"blue": 100, "green": 0}) as proc:
        yield proc


@pytest.fixture
def kept_state(backends: dict[str, SlotBackend]) -> Iterator[HAProxyProcess]:
    servers = {"blue": backends["blue"].address, "green": ("127.0.0.1", free_port())}
    with HAProxyProcess(servers, weights={"blue": 100, "green": 0}, server_state_file=True) as proc:
        yield proc


@haproxy_test
def test_the_new_slots_address_set_at_provisioning_is_where_requests_land_and_a_reload_halts_the_step(
    misdirected: HAProxyProcess, backends: dict[str, SlotBackend], tmp_path: Path
) -> None:
    fleet = _fleet(misdirected, backends)
    store = LocalStateStore(tmp_path)
    reloaded: list[float] = []

    def reload_mid_shift(point: str) -> None:
        if point == "after-commit:WeightsApplied" and not reloaded:
            time.sleep(1.0)  # the engine runs on a fake clock: give the first step real traffic
        if point == "after-commit:AnalysisCompleted" and not reloaded:
            reloaded.append(time.monotonic())
            misdirected.reload()

    with LoadGenerator(misdirected.url, rate=100, total=500, time_limit_s=8) as load:
        time.sleep(0.3)
        final = fleet.engine(store, checkpoint=reload_mid_shift).cutover(environment(), NEW_VERSION)
        time.sleep(0.3)

    c = final.cutover
    assert c is not None and c.phase is Phase.SHIFT and c.held is not None
    assert "fleet recorded blue 90% / green 10%, haproxy has blue 100% / green 0%" in c.held
    assert fleet.traffic.get_weights("local") == Weights(100, 0), "the reloaded weights are not overwritten"
    before_reload = in_range(load.records, 0, reloaded[0])
    assert observed_split(before_reload).get("green", 0) > 0, "green's share reached green's backend"
    assert failures(before_reload) == []

    resumed = fleet.engine(store).resume("local")

    assert resumed.cutover is not None and resumed.cutover.phase is Phase.DONE
    view = fleet.traffic.observe("local")
    assert view.slots[SlotName.GREEN].address == "{}:{}".format(*backends["green"].address)
    assert view.weights == Weights(0, 100)


@haproxy_test
def test_with_a_server_state_file_a_reload_mid_shift_changes_nothing(
    kept_state: HAProxyProcess, backends: dict[str, SlotBackend], tmp_path: Path
) -> None:
    fleet = _fleet(kept_state, backends)
    store = LocalStateStore(tmp_path)
    seen: list[TrafficView] = []

    def reload_mid_shift(point: str) -> None:
        if point == "after-commit:AnalysisCompleted" and not seen:
            kept_state.reload()
            seen.append(fleet.traffic.observe("local"))

    with LoadGenerator(kept_state.url, rate=100, total=300, time_limit_s=8) as load:
        final = fleet.engine(store, checkpoint=reload_mid_shift).cutover(environment(), NEW_VERSION)

    assert seen[0].weights == Weights(90, 10)
    assert seen[0].slots[SlotName.GREEN].address == "{}:{}".format(*backends["green"].address)
    assert final.cutover is not None and final.cutover.phase is Phase.DONE
    assert "DriftObserved" not in [r.event for r in store.history("local")]
    # (A keep-alive connection the old process closes at the reload may fail one request: HAProxy's, not fleet's.)
    assert observed_split(load.records).get("green", 0) > 0


@haproxy_test
@pytest.mark.parametrize(("command", "named"), [("maint", "MAINT"), ("drain", "DRAIN")])
def test_weight_is_never_moved_onto_a_server_haproxy_holds_out(
    haproxy: HAProxyProcess, command: str, named: str
) -> None:
    traffic = HAProxyTraffic(haproxy.socket_path)
    traffic.api.execute(f"set server app/green state {command}")

    assert traffic.observe("test").slots[SlotName.GREEN].state is ServerState(named)
    with pytest.raises(ProviderError, match=rf"green's server .*\({named}\)"):
        traffic.set_weights("test", Weights(blue=90, green=10))
    assert traffic.get_weights("test") == Weights(100, 0)


def test_a_server_down_by_its_checks_is_down() -> None:
    assert _server_state({"srv_op_state": "0", "srv_admin_state": "0"}) is ServerState.DOWN
    assert _server_state({"srv_op_state": "2", "srv_admin_state": "0"}) is ServerState.UP
    assert _server_state({"srv_op_state": "0", "srv_admin_state": "1"}) is ServerState.MAINT


@haproxy_test
def test_the_address_set_through_the_runtime_api_is_read_back(haproxy: HAProxyProcess) -> None:
    traffic = HAProxyTraffic(haproxy.socket_path)
    port = free_port()
    traffic.point("test", SlotName.GREEN, f"http://127.0.0.1:{port}/")
    assert traffic.observe("test").slots[SlotName.GREEN].address == f"127.0.0.1:{port}"
    with pytest.raises(ProviderError, match="IP address"):
        traffic.point("test", SlotName.GREEN, "ingress.example.com")


@pytest.mark.parametrize(("key", "settings"), [
    ("backend", {"backend": "app;shutdown sessions"}),
    ("servers.green", {"servers": {"green": "g 1"}}),
])
def test_names_the_runtime_api_cannot_take_are_refused_with_file_and_key(key: str, settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        HAProxyTraffic.from_settings(
            "prod", {"provider": "haproxy", "socket": "/run/haproxy.sock", **settings}, file="stacks/Pulumi.prod.yaml"
        )
    assert str(caught.value).startswith(f"stacks/Pulumi.prod.yaml:fleet:traffic.{key}: ")


def test_a_missing_socket_is_transient(tmp_path: Path) -> None:
    with pytest.raises(TransientError, match="does not exist"):
        HAProxyTraffic(str(tmp_path / "admin.sock")).get_weights("test")


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP endpoint on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def test_an_endpoint_that_never_answers_bounds_a_rollback_to_its_budget(silent_endpoint: str, tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)

    def crash(point: str) -> None:
        if point == "after-commit:WeightsApplied":
            raise _Crash(point)

    with pytest.raises(_Crash):
        fleet.engine(store, checkpoint=crash).cutover(environment(), NEW_VERSION)
    fleet.traffic = HAProxyTraffic(silent_endpoint, timeout_s=15.0)  # type: ignore[assignment]
    fleet.clock = SystemClock()  # type: ignore[assignment]
    engine = fleet.engine(store, retry=RetryPolicy(attempts=10, base_s=0.1, max_s=0.5, budget_s=1.0))

    started = time.monotonic()
    final = engine.rollback("local", reason="test")
    took = time.monotonic() - started

    assert took < 1.0 + 0.5, f"the rollback took {took:.2f}s with a budget of 1s"
    assert final.cutover is not None and final.cutover.phase is Phase.ROLLING_BACK
    assert "rollback not confirmed" in (final.cutover.reason or "")


def test_the_haproxy_analysis_source_refuses_such_names_too() -> None:
    from fleet.adapters.analysis.haproxy import HAProxyAnalysis

    with pytest.raises(ConfigError, match=r"fleet:analysis\.backend: 'app;x'"):
        HAProxyAnalysis.from_settings(
            "prod", {"source": "haproxy", "socket": "/run/h.sock", "backend": "app;x"}, file="stacks/Pulumi.prod.yaml"
        )


@haproxy_test
def test_a_rollback_onto_an_old_slot_haproxy_checks_hold_down_is_refused(backends: dict[str, SlotBackend]) -> None:
    servers = {"blue": ("127.0.0.1", free_port()), "green": backends["green"].address}
    with HAProxyProcess(servers, weights={"blue": 50, "green": 50}, checks=True) as proc:
        traffic = HAProxyTraffic(proc.socket_path)
        deadline = time.monotonic() + 5
        while traffic.observe("test").slots[SlotName.BLUE].state is not ServerState.DOWN:
            assert time.monotonic() < deadline, "HAProxy's check never took blue down"
            time.sleep(0.05)

        with pytest.raises(ProviderError, match=r"onto blue: haproxy has blue's server DOWN by its health checks"):
            traffic.set_weights("test", Weights(blue=100, green=0))
        assert traffic.get_weights("test") == Weights(50, 50)
        traffic.set_weights("test", Weights(blue=0, green=100))  # away from the down server is fine
