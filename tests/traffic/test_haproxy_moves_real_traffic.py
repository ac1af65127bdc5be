"""HAProxy's runtime API moves real requests between the slots exactly as the weights say."""

from __future__ import annotations

import time

import pytest

from fleet.adapters.traffic.haproxy import HAProxyTraffic, RuntimeApi
from fleet.domain.model import Weights
from fleet.errors import ProviderError, TransientError
from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.haproxy_process import HAProxyProcess
from fleet.rehearsal.load import LoadGenerator, failures, observed_split
from tests.traffic.support import needs_haproxy

pytestmark = needs_haproxy


def test_the_observed_split_of_real_requests_follows_each_weight_change(haproxy: HAProxyProcess) -> None:
    traffic = HAProxyTraffic(haproxy.socket_path)
    plan = [(90, 10), (75, 25), (50, 50), (0, 100), (100, 0)]
    marks = []
    with LoadGenerator(haproxy.url, rate=200, total=1400, time_limit_s=10) as load:
        time.sleep(0.2)
        for blue, green in plan:
            applied = traffic.set_weights("test", Weights(blue=blue, green=green))
            assert applied.settle_s == 0.0
            start = time.monotonic()
            time.sleep(1.0)
            marks.append((blue, green, start, time.monotonic()))
    records = load.records
    assert not failures(records)
    for blue, green, start, end in marks:
        split = observed_split(records, start + 0.02, end)
        assert abs(split.get("blue", 0.0) - blue) <= 5, (blue, green, split)
        assert abs(split.get("green", 0.0) - green) <= 5, (blue, green, split)


def test_weights_are_read_back_as_percentages(haproxy: HAProxyProcess) -> None:
    traffic = HAProxyTraffic(haproxy.socket_path)
    assert traffic.get_weights("test") == Weights(blue=100, green=0)
    traffic.set_weights("test", Weights(blue=75, green=25))
    assert traffic.get_weights("test") == Weights(blue=75, green=25)
    state = traffic.api.servers_state("app")
    assert (state["blue"]["srv_uweight"], state["green"]["srv_uweight"]) == ("75", "25")


def test_the_runtime_api_also_works_over_tcp(haproxy: HAProxyProcess) -> None:
    assert haproxy.tcp_socket is not None
    traffic = HAProxyTraffic(haproxy.tcp_socket)
    traffic.set_weights("test", Weights(blue=40, green=60))
    assert HAProxyTraffic(haproxy.socket_path).get_weights("test") == Weights(blue=40, green=60)


def test_a_server_name_that_does_not_exist_is_reported_before_anything_changes(
    haproxy: HAProxyProcess,
) -> None:
    traffic = HAProxyTraffic(haproxy.socket_path, servers={"green": "gren"})
    with pytest.raises(ProviderError, match="no server 'gren'"):
        traffic.set_weights("test", Weights(blue=50, green=50))
    assert HAProxyTraffic(haproxy.socket_path).get_weights("test") == Weights(blue=100, green=0)


def test_an_unknown_backend_is_reported(haproxy: HAProxyProcess) -> None:
    with pytest.raises(ProviderError, match="backend"):
        HAProxyTraffic(haproxy.socket_path, backend="nope").get_weights("test")


def test_a_socket_nobody_listens_on_is_a_transient_error(haproxy: HAProxyProcess) -> None:
    with pytest.raises(TransientError):
        RuntimeApi("127.0.0.1:1", timeout_s=0.5).execute("show info")


def test_moving_all_traffic_to_the_other_slot_fails_no_request(
    haproxy: HAProxyProcess, backends: dict[str, SlotBackend]
) -> None:
    traffic = HAProxyTraffic(haproxy.socket_path)
    with LoadGenerator(haproxy.url, rate=300, total=900, time_limit_s=6, threads=2) as load:
        for _ in range(10):
            traffic.set_weights("test", Weights(blue=0, green=100))
            time.sleep(0.1)
            traffic.set_weights("test", Weights(blue=100, green=0))
            time.sleep(0.1)
    assert not failures(load.records)
    assert backends["green"].served > 0 and backends["blue"].served > 0
