"""Judging a slot from Prometheus, the way Flagger does, but deciding FAIL early.

Teams that already collect ingress metrics in Prometheus want the cutover
judged on the same numbers as their dashboards. This source runs three
instant queries per poll through the HTTP API (``/api/v1/query``):

* ``requests``: a cumulative counter of the slot's requests, e.g.
  ``sum(haproxy_server_http_responses_total{proxy="app",server="{slot}"})``;
* ``errors``: a cumulative counter of its failed requests, e.g. the same
  with ``code="5xx"``;
* ``p99`` (optional): the slot's p99 latency in milliseconds over the window
  so far, e.g. ``1000 * histogram_quantile(0.99, sum by (le)
  (rate(http_request_duration_seconds_bucket{slot="{slot}"}[{window}])))``.

Counters rather than rates, because the sequential judge needs cumulative
counts: fleet takes each counter's value at the start of the window and
judges the differences (a counter that goes down was reset and is handled).
In the templates ``{slot}`` becomes the slot's label value (``slots``
mapping, default the slot name), ``{env}`` the environment, and ``{window}``
the time since the window began as a PromQL duration (at least the
``minRange``, default 1m, so that ``rate`` has samples). A vector result is
summed for counters and its largest value taken for p99; an empty result is 0
for counters and "no latency figure" for p99. The evidence can be no fresher
than Prometheus' scrape interval, which bounds how early a FAIL can come.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from fleet.adapters.analysis.window import POLICY_KEYS, CounterDelta, MonotonicClock, Reading, judge_window
from fleet.adapters.traffic.settings import SettingsReader
from fleet.domain.analysis import SprtSettings
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Verdict
from fleet.errors import AccessDenied, ProviderError, TransientError
from fleet.ports import Clock, Interrupted


def render(template: str, *, slot: str, env: str, window_s: float) -> str:
    """A query template with ``{slot}``, ``{env}`` and ``{window}`` filled in (PromQL's own braces kept)."""
    window = f"{max(1, math.ceil(window_s))}s"
    return template.replace("{slot}", slot).replace("{env}", env).replace("{window}", window)


class PrometheusAnalysis:
    """Analysis from Prometheus instant queries."""

    source = "prometheus"

    def __init__(
        self,
        url: str,
        *,
        requests_query: str,
        errors_query: str,
        p99_query: str | None = None,
        slots: Mapping[str, str] | None = None,
        interval_s: float = 1.0,
        min_range_s: float = 60.0,
        timeout_s: float = 5.0,
        clock: Clock | None = None,
        settings: SprtSettings | None = None,
        early: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.requests_query = requests_query
        self.errors_query = errors_query
        self.p99_query = p99_query
        names = dict(slots or {})
        self.slots = {slot: names.get(slot.value, slot.value) for slot in SlotName}
        self.interval_s = interval_s
        self.min_range_s = min_range_s
        self.timeout_s = timeout_s
        self.clock: Clock = clock or MonotonicClock()
        self.settings = settings or SprtSettings()
        self.early = early

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> PrometheusAnalysis:
        reader = SettingsReader(
            settings, file=file, block="fleet:analysis",
            known=("source", "url", "queries", "slots", "interval", "minRange", "timeout"),
            ignored=POLICY_KEYS,
        )
        url = reader.string("url")
        if not url.startswith(("http://", "https://")):
            raise reader.error("url", f"{url!r} is not an http(s) URL")
        queries = reader.mapping("queries")
        unknown = sorted(str(k) for k in queries if k not in ("requests", "errors", "p99"))
        if unknown:
            raise reader.error(
                "queries", f"unknown query {', '.join(unknown)}; expected requests, errors, p99"
            )
        texts: dict[str, str | None] = {}
        for name in ("requests", "errors", "p99"):
            value = queries.get(name)
            if value is None and name != "p99":
                raise reader.error(f"queries.{name}", "is required")
            if value is not None and (not isinstance(value, str) or "{slot}" not in value):
                raise reader.error(f"queries.{name}", "must be a PromQL string containing {slot}")
            texts[name] = value
        requests_query, errors_query = texts["requests"], texts["errors"]
        assert requests_query is not None and errors_query is not None
        return cls(
            url,
            requests_query=requests_query,
            errors_query=errors_query,
            p99_query=texts["p99"],
            slots=reader.slot_names("slots"),
            interval_s=reader.duration("interval", 1.0, low=0.05, high=60.0),
            min_range_s=reader.duration("minRange", 60.0, low=1.0, high=86_400.0),
            timeout_s=reader.duration("timeout", 5.0, low=0.1, high=60.0),
        )

    def query(self, promql: str) -> list[float]:
        """The values of an instant query (one per series; a scalar is one value)."""
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(address, timeout=self.timeout_s) as response:
                body = json.load(response)
        except urllib.error.HTTPError as err:
            detail = err.read(500).decode(errors="replace")
            if err.code in (401, 403):
                raise AccessDenied(f"Prometheus at {self.url} refused the query ({err.code})") from err
            if err.code >= 500 or err.code == 429:
                raise TransientError(
                    f"Prometheus at {self.url} answered {err.code}", retry_after=1.0
                ) from err
            raise ProviderError(f"Prometheus rejected {promql!r} ({err.code}): {detail}") from err
        except (urllib.error.URLError, OSError) as err:
            raise TransientError(f"Prometheus at {self.url} is unreachable: {err}", retry_after=1.0) from err
        except ValueError as err:
            raise ProviderError(f"Prometheus at {self.url} answered something that is not JSON") from err
        if body.get("status") != "success":
            raise ProviderError(f"Prometheus query {promql!r} failed: {body.get('error', body)}")
        data = body.get("data", {})
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            values = [result[1]]
        elif kind == "vector":
            values = [sample["value"][1] for sample in result]
        else:
            raise ProviderError(f"Prometheus query {promql!r} gave a {kind}, expected an instant vector")
        numbers = [float(v) for v in values]
        return [n for n in numbers if not math.isnan(n)]

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        label = self.slots[slot]

        def counter(template: str, elapsed: float) -> float:
            return sum(self.query(render(template, slot=label, env=env, window_s=elapsed)))

        requests = CounterDelta(counter(self.requests_query, 0.0))
        errors = CounterDelta(counter(self.errors_query, 0.0))
        p99_query = self.p99_query

        def read(elapsed: float) -> Reading:
            seen = requests.update(counter(self.requests_query, elapsed))
            failed = errors.update(counter(self.errors_query, elapsed))
            p99: float | None = None
            if p99_query is not None:
                window = max(elapsed, self.min_range_s)
                values = self.query(render(p99_query, slot=label, env=env, window_s=window))
                p99 = max(values) if values else None
            return Reading(seen, min(failed, seen), None, p99)

        return judge_window(
            policy, read, source=f"prometheus {self.url}", interval_s=self.interval_s,
            clock=self.clock, settings=self.settings, early=self.early, interrupted=interrupted,
        )
