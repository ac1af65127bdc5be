"""Tenants judged from Prometheus: the slot's queries with ``{tenant_labels}`` filled per tenant.

A real Prometheus scrapes a small exporter on 127.0.0.1 whose counters carry a
``namespace`` label per tenant; ``payments`` (2 % of green's requests) answers
only 500s, everyone else succeeds. The slot as a whole stays above 98 %, the
tenant fails, and the verdict names it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fleet.adapters.analysis.prometheus import PrometheusAnalysis
from fleet.adapters.analysis.tenants import PrometheusTenantCounts, TenantAnalysis
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Outcome
from fleet.domain.tenants import TenantTraffic
from tests.traffic.peers import PrometheusProcess
from tests.traffic.support import PROMETHEUS

pytestmark = [pytest.mark.prometheus, pytest.mark.skipif(PROMETHEUS is None, reason="needs prometheus")]

COUNTS: Counter[tuple[str, str]] = Counter()
LOCK = threading.Lock()


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with LOCK:
            lines = [
                f'app_requests_total{{slot="green",namespace="{ns}",code="{code}"}} {n}'
                for (ns, code), n in sorted(COUNTS.items())
            ]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[str]:
    COUNTS.clear()
    with LOCK:
        COUNTS[("shop", "200")] += 1
        COUNTS[("payments", "200")] += 1
        COUNTS[("payments", "500")] += 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _traffic(stop: threading.Event) -> None:
    tick = 0
    while not stop.wait(0.05):  # 10 requests per 50 ms: 200/s, 2 % of them payments' (all failing)
        tick += 1
        with LOCK:
            COUNTS[("shop", "200")] += 10
            COUNTS[("payments", "500")] += 1 if tick % 5 == 0 else 0


def test_a_tenant_failing_on_green_is_judged_from_its_labelled_series(exporter: str) -> None:
    with PrometheusProcess([exporter], interval="200ms", timeout="150ms") as prometheus:
        source = PrometheusAnalysis(
            prometheus.url,
            requests_query='app_requests_total{slot="{slot}"{tenant_labels}}',
            errors_query='app_requests_total{slot="{slot}",code="500"{tenant_labels}}',
            interval_s=0.2,
        )
        tenants = (TenantTraffic("payments", labels={"namespace": "payments"}),
                   TenantTraffic("shop", labels={"namespace": "shop"}))
        analysis = TenantAnalysis(source, tenants, PrometheusTenantCounts(source, tenants))
        stop = threading.Event()
        pump = threading.Thread(target=_traffic, args=(stop,), daemon=True)
        pump.start()
        try:
            started = time.monotonic()
            verdict = analysis.analyse("env", SlotName.GREEN, AnalysisPolicy(window_s=6.0, min_requests=50))
        finally:
            stop.set()
            pump.join(timeout=5)
    assert verdict.outcome is Outcome.FAIL, verdict
    assert verdict.reason.startswith("tenant payments:"), verdict.reason
    assert "; slot:" not in verdict.reason
    by_name = {t.tenant: t for t in verdict.tenants}
    assert by_name["payments"].outcome is Outcome.FAIL
    assert by_name["payments"].evidence.errors == by_name["payments"].evidence.requests > 0
    assert by_name["shop"].outcome is not Outcome.FAIL and by_name["shop"].evidence.errors == 0
    assert (verdict.evidence.success_rate or 0) > 97.0
    assert time.monotonic() - started < 6.0 + 3.0
