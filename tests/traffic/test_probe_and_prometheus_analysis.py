"""Probes and Prometheus feed the same judge: a failing slot fails early, a healthy one passes after the window."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.adapters.analysis.probe import ProbeAnalysis
from fleet.adapters.analysis.prometheus import PrometheusAnalysis
from fleet.adapters.traffic.haproxy import HAProxyTraffic
from fleet.domain.model import AnalysisPolicy, SlotName, Weights
from fleet.domain.reports import Outcome
from fleet.errors import TransientError
from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.haproxy_process import HAProxyProcess
from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.load import LoadGenerator
from tests.traffic.support import PROMETHEUS, wait_http, without_haproxy, without_prometheus

SHORT = AnalysisPolicy(success_rate=99.0, p99_latency_ms=500.0, window_s=1.0, min_requests=10)


def probes(backends: dict[str, SlotBackend], rate: float = 40.0) -> ProbeAnalysis:
    return ProbeAnalysis({name: b.url for name, b in backends.items()}, rate=rate)


def test_probes_pass_a_healthy_slot_after_the_window_with_real_quantiles(backends: dict[str, SlotBackend]) -> None:
    verdict = probes(backends).analyse("test", SlotName.GREEN, SHORT)
    assert verdict.outcome is Outcome.PASS
    assert verdict.evidence.duration_s >= SHORT.window_s
    assert verdict.evidence.p50_ms is not None and verdict.evidence.p99_ms is not None
    assert backends["blue"].served == 0


def test_probes_fail_a_half_failing_slot_early(backends: dict[str, SlotBackend]) -> None:
    backends["green"].set_faults(error_rate=0.5)
    policy = AnalysisPolicy(window_s=30.0, min_requests=10)
    verdict = probes(backends).analyse("test", SlotName.GREEN, policy)
    assert verdict.outcome is Outcome.FAIL and verdict.evidence.decided_early
    assert verdict.evidence.duration_s < 2.0


def test_probes_count_an_unreachable_slot_as_failing(backends: dict[str, SlotBackend]) -> None:
    analysis = ProbeAnalysis({"green": f"http://127.0.0.1:{free_port()}/"}, rate=40.0, timeout_s=0.2)
    verdict = analysis.analyse("test", SlotName.GREEN, AnalysisPolicy(window_s=10.0, min_requests=10))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.evidence.errors == verdict.evidence.requests


def test_probes_count_a_slot_that_never_answers_as_failing() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        analysis = ProbeAnalysis({"green": url}, rate=40.0, timeout_s=0.1)
        verdict = analysis.analyse("test", SlotName.GREEN, AnalysisPolicy(window_s=10.0, min_requests=10))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.evidence.errors == verdict.evidence.requests >= 3


def test_probes_are_bounded_in_rate(backends: dict[str, SlotBackend]) -> None:
    probes(backends, rate=20.0).analyse("test", SlotName.GREEN, SHORT)
    assert backends["green"].served <= 22


@pytest.fixture
def prometheus(haproxy: HAProxyProcess) -> Iterator[str]:
    assert PROMETHEUS is not None and haproxy.metrics_port is not None
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fleet-prometheus-") as workdir:
        config = Path(workdir) / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
            "scrape_configs:\n  - job_name: haproxy\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{haproxy.metrics_port}']\n"
        )
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir}/data",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/-/ready", timeout_s=30)
            deadline = time.monotonic() + 15
            query = urllib.parse.urlencode({"query": 'up{job="haproxy"} == 1'})
            while time.monotonic() < deadline:
                with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=2) as response:
                    if b'"value"' in response.read():
                        break
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            wait_or_kill(proc, 10)


def from_haproxy_exporter(url: str) -> PrometheusAnalysis:
    server = '{__name__=~"haproxy_server_(http_responses|connection_errors|response_errors)_total",server="{slot}"'
    return PrometheusAnalysis(
        url,
        requests_query=server + "}",
        errors_query=server + ',code=~"5xx|"}',
        p99_query='1000 * max(max_over_time(haproxy_server_response_time_average_seconds{server="{slot}"}[{window}]))',
        interval_s=0.2,
    )


@pytest.mark.haproxy
@pytest.mark.prometheus
@without_haproxy
@without_prometheus
@pytest.mark.parametrize("green_errors", [0.0, 0.5])
def test_prometheus_scraping_haproxy_judges_the_slot(
    haproxy: HAProxyProcess, backends: dict[str, SlotBackend], prometheus: str, green_errors: float
) -> None:
    HAProxyTraffic(haproxy.socket_path).set_weights("test", Weights(blue=50, green=50))
    backends["green"].set_faults(error_rate=green_errors)
    policy = AnalysisPolicy(success_rate=99.0, window_s=2.0, min_requests=20)
    with LoadGenerator(haproxy.url, rate=100, total=600, time_limit_s=6):
        verdict = from_haproxy_exporter(prometheus).analyse("test", SlotName.GREEN, policy)
    if green_errors:
        assert verdict.outcome is Outcome.FAIL and verdict.evidence.decided_early
    else:
        assert verdict.outcome is Outcome.PASS, verdict.reason
        assert verdict.evidence.requests >= 20 and verdict.evidence.p99_ms is not None
    assert verdict.evidence.source.startswith("prometheus")


def test_an_unreachable_prometheus_is_a_transient_error() -> None:
    analysis = PrometheusAnalysis(
        f"http://127.0.0.1:{free_port()}",
        requests_query='sum(x{s="{slot}"})',
        errors_query='sum(y{s="{slot}"})',
        timeout_s=0.5,
    )
    with pytest.raises(TransientError):
        analysis.analyse("test", SlotName.GREEN, SHORT)
