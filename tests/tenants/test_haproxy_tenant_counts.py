"""HAProxy counts each tenant's answers per server in a stick table, from the lines docs/traffic.md lists.

Real HAProxy, two real slot backends; requests sent by host name and by path
prefix; the counts read through the runtime API are compared with what was sent.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from fleet.adapters.analysis.tenants import HAProxyTenantCounts
from fleet.adapters.traffic.haproxy import RuntimeApi
from fleet.domain.model import SlotName
from fleet.domain.tenants import TenantTraffic, haproxy_lines
from fleet.rehearsal.backends import SlotBackend, slot_backends
from fleet.rehearsal.haproxy_process import HAProxyProcess, find_haproxy

pytestmark = [pytest.mark.haproxy, pytest.mark.skipif(find_haproxy() is None, reason="needs haproxy")]

TENANTS = (
    TenantTraffic("payments", hosts=("pay.example.com",)),
    TenantTraffic("search", path_prefixes=("/search/",)),
)


@pytest.fixture
def world() -> Iterator[tuple[HAProxyProcess, dict[str, SlotBackend]]]:
    with slot_backends("blue", "green") as backends:
        servers = {name: b.address for name, b in backends.items()}
        with HAProxyProcess(servers, weights={"blue": 50, "green": 50}, tenant_lines=haproxy_lines(TENANTS)) as proc:
            yield proc, backends


def send(proc: HAProxyProcess, count: int, *, path: str = "/", host: str = "app.example.com") -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=5)
    try:
        for _ in range(count):
            conn.request("GET", path, headers={"Host": host})
            conn.getresponse().read()
    finally:
        conn.close()


def test_each_tenants_answers_and_5xx_are_counted_per_slot_from_the_window_on(
    world: tuple[HAProxyProcess, dict[str, SlotBackend]]
) -> None:
    proc, backends = world
    send(proc, 10, host="pay.example.com")  # before the window: not counted
    counts = HAProxyTenantCounts(RuntimeApi(proc.socket_path), {s: s.value for s in SlotName}, ("payments", "search"))
    read_green = counts.open("env", SlotName.GREEN)
    read_blue = counts.open("env", SlotName.BLUE)
    backends["green"].set_path_errors({"/search/": 1.0})
    send(proc, 40, host="pay.example.com:8080")
    send(proc, 40, path="/search/q")
    send(proc, 40)  # nobody's tenant
    green, blue = read_green(1.0), read_blue(1.0)
    assert green["payments"].requests + blue["payments"].requests == 40
    assert green["search"].requests + blue["search"].requests == 40
    assert green["search"].requests == 20 and green["search"].errors == 20  # roundrobin 50/50
    assert blue["search"].errors == 0 and green["payments"].errors == 0
