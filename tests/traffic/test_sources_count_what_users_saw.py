"""Analysis sources against a real Prometheus scraping a real HAProxy 2.6: they count what users saw.

Each test checks the counts a source handed the judge against what the slot
really served while the source looked: a failed scrape, a Prometheus
restarted with or without its storage and an HAProxy reload mid-window must
neither count the slot's past again (a healthy slot failed on errors from
before the window) nor hide what happened (503s from a slot refusing
connections, 504s from one timing out). Scrapes every second, windows of a
few seconds; every process is stopped by its PID.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fleet.adapters.analysis.haproxy import HAProxyAnalysis
from fleet.adapters.analysis.prometheus import PrometheusAnalysis
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Outcome, Verdict
from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.load import LoadGenerator
from tests.traffic.peers import PrometheusProcess, ReloadingHAProxy
from tests.traffic.support import without_haproxy, without_prometheus

pytestmark = [pytest.mark.haproxy, pytest.mark.prometheus, without_haproxy, without_prometheus]

HAPROXY_SERVER = (
    '{__name__=~"haproxy_server_(http_responses|connection_errors|response_errors)_total",proxy="app",server="{slot}"'
)
REQUESTS = HAPROXY_SERVER + "}"
ERRORS = HAPROXY_SERVER + ',code=~"5xx|"}'


class Short(ReloadingHAProxy):
    """fleet's rehearsal HAProxy with a 500 ms server timeout, so a hanging slot answers 504 quickly."""

    def config_text(self, socket_path: str) -> str:
        return super().config_text(socket_path).replace("timeout server 30s", "timeout server 500ms")


@pytest.fixture
def peers(backends: dict[str, SlotBackend]) -> Iterator[tuple[ReloadingHAProxy, PrometheusProcess]]:
    servers = {name: b.address for name, b in backends.items()}
    with Short(servers, weights={"blue": 50, "green": 50}, prometheus=True) as haproxy, \
            PrometheusProcess([f"127.0.0.1:{haproxy.metrics_port}"]) as prometheus:
        yield haproxy, prometheus


def source(url: str, **kwargs: Any) -> PrometheusAnalysis:
    return PrometheusAnalysis(url, requests_query=REQUESTS, errors_query=ERRORS, interval_s=0.25, **kwargs)


def during(delay_s: float, action: Callable[[], None]) -> threading.Thread:
    """Runs ``action`` ``delay_s`` from now, beside the analysis window."""
    def run() -> None:
        time.sleep(delay_s)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def served_while(green: SlotBackend, analyse: Callable[[], Verdict]) -> tuple[Verdict, int]:
    before = green.served
    verdict = analyse()
    return verdict, green.served - before


def test_a_failed_scrape_mid_window_is_no_reading_and_the_window_counts_only_itself(
    peers: tuple[ReloadingHAProxy, PrometheusProcess], backends: dict[str, SlotBackend]
) -> None:
    haproxy, prometheus = peers
    analysis = source(prometheus.url)
    policy = AnalysisPolicy(success_rate=99.0, window_s=6.0, min_requests=20)
    with LoadGenerator(haproxy.url, rate=100, total=1600, time_limit_s=15):
        time.sleep(2.0)  # the slot's past: what HAProxy counted before the window must stay out of it
        timing = analysis.scrape_timing(analysis.series(REQUESTS.replace("{slot}", "green")))
        during(3.0, haproxy.disable_metrics)
        during(5.5, haproxy.enable_metrics)
        verdict, served = served_while(backends["green"], lambda: analysis.analyse("t", SlotName.GREEN, policy))
    assert (timing.interval_s, timing.timeout_s) == (1.0, 0.5), timing
    assert verdict.outcome is Outcome.PASS, verdict.reason
    assert served * 0.5 <= verdict.evidence.requests <= served + 2, (verdict.evidence, served)
    assert verdict.evidence.errors == 0


@pytest.mark.parametrize("keep_storage", [False, True], ids=["without-storage", "with-storage"])
def test_a_prometheus_restart_mid_window_neither_counts_the_past_again_nor_loses_the_window(
    peers: tuple[ReloadingHAProxy, PrometheusProcess], backends: dict[str, SlotBackend], keep_storage: bool
) -> None:
    haproxy, prometheus = peers
    policy = AnalysisPolicy(success_rate=99.0, window_s=9.0, min_requests=20)
    with LoadGenerator(haproxy.url, rate=100, total=2000, time_limit_s=18):
        time.sleep(2.0)
        restart = during(3.0, lambda: prometheus.restart(keep_storage=keep_storage))
        verdict, served = served_while(
            backends["green"], lambda: source(prometheus.url).analyse("t", SlotName.GREEN, policy)
        )
        restart.join(timeout=30)
    assert verdict.outcome is Outcome.PASS, verdict.reason
    assert served * 0.3 <= verdict.evidence.requests <= served + 2, (verdict.evidence, served)
    assert verdict.evidence.errors == 0


def test_an_haproxy_reload_mid_window_keeps_what_was_counted_and_counts_on(
    peers: tuple[ReloadingHAProxy, PrometheusProcess], backends: dict[str, SlotBackend]
) -> None:
    haproxy, prometheus = peers
    policy = AnalysisPolicy(success_rate=99.0, window_s=7.0, min_requests=20)
    with LoadGenerator(haproxy.url, rate=100, total=3000, time_limit_s=25, threads=4):
        time.sleep(2.0)
        first_pid = haproxy.pid()
        reload = during(4.0, haproxy.reload)
        verdict, served = served_while(
            backends["green"], lambda: source(prometheus.url).analyse("t", SlotName.GREEN, policy)
        )
        reload.join(timeout=30)
        assert haproxy.pid() != first_pid
        stats = HAProxyAnalysis(haproxy.socket_path, latency="none")
        during(1.0, haproxy.reload)
        short = AnalysisPolicy(success_rate=99.0, window_s=3.0, min_requests=20)
        direct, served_direct = served_while(backends["green"], lambda: stats.analyse("t", SlotName.GREEN, short))
    assert verdict.outcome is Outcome.PASS, verdict.reason
    assert served * 0.5 <= verdict.evidence.requests <= served + 2, (verdict.evidence, served)
    assert direct.outcome is Outcome.PASS, direct.reason
    assert served_direct * 0.8 <= direct.evidence.requests <= served_direct + 2, (direct.evidence, served_direct)


def test_errors_just_before_the_window_are_not_counted_in_it(
    peers: tuple[ReloadingHAProxy, PrometheusProcess], backends: dict[str, SlotBackend]
) -> None:
    haproxy, prometheus = peers
    policy = AnalysisPolicy(success_rate=99.0, window_s=4.0, min_requests=20)
    with LoadGenerator(haproxy.url, rate=100, total=1200, time_limit_s=12):
        time.sleep(1.0)
        backends["green"].set_faults(error_rate=1.0)
        time.sleep(0.8)
        backends["green"].set_faults(error_rate=0.0)  # the slot is healthy from here on
        verdict = source(prometheus.url).analyse("t", SlotName.GREEN, policy)
    assert verdict.outcome is Outcome.PASS, verdict.reason
    assert verdict.evidence.errors == 0


@pytest.mark.parametrize("fault", ["refused", "timeout"])
def test_connection_errors_and_timeouts_are_errors_in_prometheus_and_in_haproxy_stats(
    backends: dict[str, SlotBackend], fault: str
) -> None:
    servers = {name: b.address for name, b in backends.items()}
    if fault == "refused":
        # nothing listens: after its 3 retries (about 1 s apart) HAProxy answers 503; a client that gives
        # up sooner is a client abort to HAProxy, not an error (docs/traffic.md), hence the 5 s client timeout
        servers["green"] = ("127.0.0.1", free_port())
    else:
        backends["green"].set_faults(latency_s=2.0)  # beyond the 500 ms server timeout: 504
    policy = AnalysisPolicy(success_rate=99.0, window_s=8.0, min_requests=10)
    with Short(servers, weights={"blue": 50, "green": 50}, prometheus=True) as haproxy, \
            PrometheusProcess([f"127.0.0.1:{haproxy.metrics_port}"]) as prometheus, \
            LoadGenerator(haproxy.url, rate=40, total=800, time_limit_s=20, threads=48, timeout_s=5.0) as load:
        direct = HAProxyAnalysis(haproxy.socket_path, latency="none").analyse("t", SlotName.GREEN, policy)
        scraped = source(prometheus.url).analyse("t", SlotName.GREEN, policy)
        users_failed = sum(1 for r in load.records if r.status in (503, 504))
    assert users_failed > 0
    for verdict in (direct, scraped):
        assert verdict.outcome is Outcome.FAIL, verdict.reason
        assert verdict.evidence.errors >= 3 and verdict.evidence.errors == verdict.evidence.requests


def test_the_latency_query_sees_only_the_window(
    peers: tuple[ReloadingHAProxy, PrometheusProcess], backends: dict[str, SlotBackend]
) -> None:
    """A gauge that was high before the window and low in it: the window's figure is the low one.

    HAProxy's own latency gauges cannot show this: its response time average
    covers the last 1,024 answers and forgets a slow spell only after about
    as many fast ones, and its maxima run since the process started. The
    server weight, a gauge the test sets through the runtime API, stands in
    for any latency gauge or histogram a ``{window}`` query reads.
    """
    haproxy, prometheus = peers
    gauge = 'haproxy_server_weight{proxy="app",server="green"}'
    policy = AnalysisPolicy(success_rate=99.0, p99_latency_ms=100.0, window_s=4.0, min_requests=20)
    with LoadGenerator(haproxy.url, rate=100, total=1500, time_limit_s=15):
        haproxy.runtime("set server app/green weight 200")
        wait_for(prometheus.url, f"{gauge} == 200")  # a scrape saw the "slow" slot
        haproxy.runtime("set server app/green weight 50")
        wait_for(prometheus.url, f"{gauge} == 50")
        window = source(prometheus.url, p99_query=gauge.replace('"green"', '"{slot}"').join(
            ("max_over_time(", "[{window}])")
        ))
        verdict = window.analyse("t", SlotName.GREEN, policy)
        looked_back = instant(prometheus.url, f"max_over_time({gauge}[60s])")
    assert looked_back == [200.0]  # what a 60 s look-back would have judged
    assert verdict.outcome is Outcome.PASS, verdict.reason
    assert verdict.evidence.p99_ms == 50.0


def instant(url: str, promql: str) -> list[float]:
    address = f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(address, timeout=2) as response:
        body = json.load(response)
    return [float(s["value"][1]) for s in body["data"]["result"]]


def wait_for(url: str, promql: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if instant(url, promql):
            return
        time.sleep(0.2)
    raise AssertionError(f"{promql} never held within {timeout_s}s")
