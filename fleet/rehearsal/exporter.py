"""The metrics a slot's stand-in ingress exports for a real Prometheus to scrape.

A rehearsal of an environment judged by Prometheus must run that
environment's own queries, so the stand-in ingresses export what a real
ingress controller's exporter does, under the names the sample environments
query: HAProxy's per-backend response counters
(``haproxy_backend_http_responses_total{proxy="ingress-<slot>",code="2xx"}``,
one series per status class, every class present from the start so that
a slot without traffic has series at 0) and a latency histogram
(``http_request_duration_seconds_bucket{slot="<slot>",le=...}``) with
Prometheus' default buckets. Each series also carries ``server="<slot>"``,
the label HAProxy's own exporter uses for a server, so queries written
either way find it. Counts are of the answers the backend gave, measured on
the backend (the latency is how long the answer took to produce).
"""

from __future__ import annotations

import bisect
import threading

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Prometheus client libraries' default histogram buckets."""
CODE_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
METRICS_PATH = "/metrics"


class SlotMetrics:
    """Counters and a latency histogram of one slot's answers, rendered in Prometheus' text format."""

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self._lock = threading.Lock()
        self._codes = dict.fromkeys(CODE_CLASSES, 0)
        self._buckets = [0] * len(BUCKETS_S)
        self._count = 0
        self._sum = 0.0

    def observe(self, status: int, seconds: float) -> None:
        code = f"{status // 100}xx" if 100 <= status < 600 else "other"
        with self._lock:
            self._codes[code] += 1
            index = bisect.bisect_left(BUCKETS_S, seconds)
            if index < len(self._buckets):
                self._buckets[index] += 1
            self._count += 1
            self._sum += seconds

    def render(self) -> str:
        with self._lock:
            codes = dict(self._codes)
            buckets = list(self._buckets)
            count, total = self._count, self._sum
        proxy = f'proxy="ingress-{self.slot}",server="{self.slot}"'
        lines = [
            "# HELP haproxy_backend_http_responses_total Total number of HTTP responses.",
            "# TYPE haproxy_backend_http_responses_total counter",
        ]
        lines += [f'haproxy_backend_http_responses_total{{{proxy},code="{c}"}} {n}' for c, n in codes.items()]
        labels = f'slot="{self.slot}",server="{self.slot}"'
        lines += [
            "# HELP http_request_duration_seconds How long answers took.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, n in zip(BUCKETS_S, buckets, strict=True):
            cumulative += n
            lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound:g}"}} {cumulative}')
        lines.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {count}')
        lines.append(f"http_request_duration_seconds_sum{{{labels}}} {total:.6f}")
        lines.append(f"http_request_duration_seconds_count{{{labels}}} {count}")
        return "\n".join(lines) + "\n"
