"""Judging a slot from Prometheus, the way Flagger does, but deciding FAIL early.

Teams that already collect ingress metrics in Prometheus want the cutover
judged on the same numbers as their dashboards. This source runs instant
queries through the HTTP API (``/api/v1/query``):

* ``requests``: the slot's cumulative request counters, one series per
  counter and NOT aggregated (no ``sum``), e.g. for HAProxy's exporter
  ``{__name__=~"haproxy_server_(http_responses|connection_errors|response_errors)_total",proxy="app",server="{slot}"}``;
* ``errors``: the counters of its failed requests, e.g. the same with
  ``code=~"5xx|"`` added (the 5xx answers and every connection and response
  error; a series without a ``code`` label matches ``code=""``);
* ``p99`` (optional): a latency in milliseconds over ``{window}``.

Why per series, unaggregated: the judge needs how many requests and errors
happened in the window, which fleet computes like Prometheus' ``increase()``
without its extrapolation. Each series' first value in the window is its
baseline; a value that goes down means that counter restarted from 0 (an
HAProxy reload, an exporter restart), so the new value is added; a series
missing from a result (one failed scrape makes Prometheus mark it stale; a
Prometheus restarted without its storage has nothing yet) is no reading and
counts nothing until it comes back. A ``sum(...)`` would hide all of this:
one of its series missing or restarting looks like the whole sum resetting.

When the window's counts start: a value in Prometheus is as old as its last
scrape, so a reading taken as the window opens is a reading from before it.
The source therefore waits one scrape interval (plus the scrape timeout)
before its first reading, so both ends of the window's counts are readings
taken inside it. The interval is the ``scrapeInterval`` setting, or learnt
from ``/api/v1/targets`` (the targets whose ``job`` and ``instance`` the
requests query returns; every active target when the result has no such
labels), or Prometheus' default of 1m when neither is available.

``{window}`` (in any query) is the time since the window opened, as a PromQL
duration in milliseconds, rounded down, so a latency query never looks at
samples from before the window. Until the window has lasted ``minRange``
(default: two scrape intervals, what ``rate`` needs for two samples) there is
no latency figure. ``{slot}`` becomes the slot's label value (``slots``
mapping, default the slot name) and ``{env}`` the environment. The largest
value of the p99 result is taken; an empty result is "no latency figure".
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from fleet.adapters.analysis.prometheus_queries import (
    DEFAULT_SCRAPE_INTERVAL_S,
    SETTLE_MARGIN_S,
    ScrapeTiming,
    api_error,
    check_queries,
    go_duration,
    render,
)
from fleet.adapters.analysis.window import (
    POLICY_KEYS,
    MonotonicClock,
    ProgressHook,
    Reading,
    SeriesCounters,
    SeriesKey,
    judge_window,
)
from fleet.adapters.traffic.settings import SettingsReader
from fleet.domain.analysis import SprtSettings
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Verdict
from fleet.errors import AccessDenied, ConfigError, ProviderError, TransientError
from fleet.ports import Clock, Interrupted

__all__ = ["DEFAULT_SCRAPE_INTERVAL_S", "SETTLE_MARGIN_S", "PrometheusAnalysis", "ScrapeTiming", "render"]

class PrometheusAnalysis:
    """Analysis from Prometheus instant queries over unaggregated counters."""

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
        min_range_s: float | None = None,
        scrape_interval_s: float | None = None,
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
        self.scrape_interval_s = scrape_interval_s
        self._learnt: ScrapeTiming | None = None
        self.timeout_s = timeout_s
        self.clock: Clock = clock or MonotonicClock()
        self.settings = settings or SprtSettings()
        self.early = early
        self.progress: ProgressHook | None = None
        """Told the window's counts after every reading (the live display); set by whoever wires the port."""

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> PrometheusAnalysis:
        reader = SettingsReader(
            settings, file=file, block="fleet:analysis",
            known=("source", "url", "queries", "slots", "interval", "minRange", "scrapeInterval", "timeout"),
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
            min_range_s=reader.duration("minRange", 0.0, low=0.001, high=86_400.0) if reader.has("minRange") else None,
            scrape_interval_s=(
                reader.duration("scrapeInterval", 0.0, low=0.01, high=3600.0) if reader.has("scrapeInterval") else None
            ),
            timeout_s=reader.duration("timeout", 5.0, low=0.1, high=60.0),
        )

    # --- the HTTP API ------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, str], *, what: str) -> Any:
        address = f"{self.url}{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(address, timeout=self.timeout_s) as response:
                body = json.load(response)
        except urllib.error.HTTPError as err:
            detail = err.read(500).decode(errors="replace")
            if err.code in (401, 403):
                raise AccessDenied(f"Prometheus at {self.url} refused {what} ({err.code})") from err
            if err.code >= 500 or err.code == 429:
                raise TransientError(
                    f"Prometheus at {self.url} answered {err.code}", retry_after=1.0
                ) from err
            raise ProviderError(f"Prometheus rejected {what} ({err.code}): {api_error(detail)}") from err
        except (urllib.error.URLError, OSError) as err:
            raise TransientError(f"Prometheus at {self.url} is unreachable: {err}", retry_after=1.0) from err
        except ValueError as err:
            raise ProviderError(f"Prometheus at {self.url} answered something that is not JSON") from err
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", body) if isinstance(body, dict) else body
            raise ProviderError(f"Prometheus {what} failed: {error}")
        return body.get("data", {})

    def series(self, promql: str, *, at: float | None = None) -> dict[SeriesKey, float]:
        """An instant query's values by series (a scalar is one unnamed series); NaN values are left out."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params, what=f"the query {promql!r}")
        kind, result = data.get("resultType"), data.get("result")
        found: dict[SeriesKey, float] = {}
        if kind == "scalar":
            found[()] = float(result[1])
        elif kind == "vector":
            for sample in result:
                labels = sample.get("metric", {})
                found[tuple(sorted(labels.items()))] = float(sample["value"][1])
        else:
            raise ProviderError(f"Prometheus query {promql!r} gave a {kind}, expected an instant vector")
        return {key: value for key, value in found.items() if not math.isnan(value)}

    def query(self, promql: str) -> list[float]:
        """The values of an instant query (one per series)."""
        return list(self.series(promql).values())

    def scrape_timing(self, labels: Iterable[SeriesKey] = ()) -> ScrapeTiming:
        """The scrape interval of the targets behind ``labels``' series (the setting wins)."""
        if self.scrape_interval_s is not None:
            return ScrapeTiming(self.scrape_interval_s, 0.0, "setting scrapeInterval")
        wanted = {(dict(key).get("job"), dict(key).get("instance")) for key in labels}
        wanted_jobs = {job for job, _ in wanted if job is not None}
        try:
            data = self._get("/api/v1/targets", {"state": "active"}, what="the targets list")
        except (TransientError, ProviderError, AccessDenied):
            if self._learnt is not None:  # Prometheus is restarting: its targets have not changed
                return self._learnt
            return ScrapeTiming(DEFAULT_SCRAPE_INTERVAL_S, 0.0, "Prometheus' default (targets API unavailable)")
        targets = data.get("activeTargets", []) if isinstance(data, dict) else []
        matching = [
            t for t in targets
            if (t.get("labels", {}).get("job"), t.get("labels", {}).get("instance")) in wanted
        ] or [t for t in targets if t.get("labels", {}).get("job") in wanted_jobs] or targets
        intervals = [d for t in matching if (d := go_duration(t.get("scrapeInterval"))) is not None]
        timeouts = [d for t in matching if (d := go_duration(t.get("scrapeTimeout"))) is not None]
        if not intervals:
            return ScrapeTiming(DEFAULT_SCRAPE_INTERVAL_S, 0.0, "Prometheus' default (no target says)")
        self._learnt = ScrapeTiming(max(intervals), max(timeouts, default=0.0), f"{len(matching)} target(s)")
        return self._learnt

    # --- the port ----------------------------------------------------------------

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        label = self.slots[slot]
        opened = self.clock.now()

        def values(template: str) -> dict[SeriesKey, float]:
            return self.series(render(template, slot=label, env=env, window_s=self.clock.now() - opened))

        try:
            seen_now = values(self.requests_query)
        except TransientError:
            seen_now = {}
        timing = self.scrape_timing(seen_now)
        min_range = self.min_range_s if self.min_range_s is not None else 2 * timing.interval_s
        requests, errors = SeriesCounters(), SeriesCounters()
        p99_query = self.p99_query

        def read(elapsed: float) -> Reading:
            seen = requests.update(values(self.requests_query))
            failed = errors.update(values(self.errors_query))
            p99: float | None = None
            if p99_query is not None and self.clock.now() - opened >= min_range:
                found = values(p99_query)
                p99 = max(found.values()) if found else None
            return Reading(seen, min(failed, seen), None, p99)

        return judge_window(
            policy, read, source=f"prometheus {self.url}", interval_s=self.interval_s,
            clock=self.clock, settings=self.settings, early=self.early, interrupted=interrupted,
            settle_s=timing.settle_s,
            progress=self.progress,
        )

    # --- fleet validate ----------------------------------------------------------

    def check_online(self, env: str, *, file: str) -> tuple[list[ConfigError], list[ConfigError]]:
        """Problems and warnings about the queries, found by Prometheus' own parser (see ``check_queries``)."""
        queries = {"requests": self.requests_query, "errors": self.errors_query, "p99": self.p99_query}
        return check_queries(self.series, queries, slot=self.slots[SlotName.GREEN], env=env, file=file)
