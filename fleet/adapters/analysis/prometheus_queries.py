"""Prometheus queries as fleet writes them: templates, scrape timing, API errors, and the online check.

Shared by the Prometheus analysis source (:mod:`fleet.adapters.analysis.prometheus`)
and ``fleet validate``. See that module for why counters are read per series.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.config import parse_duration
from fleet.errors import AccessDenied, ConfigError, ProviderError, TransientError

DEFAULT_SCRAPE_INTERVAL_S = 60.0
"""Prometheus' own default ``scrape_interval``, used when neither the setting nor the targets API tells."""

SETTLE_MARGIN_S = 0.1
"""Added to interval + timeout: a scrape's samples are committed a little after it ends."""

_AGGREGATION = re.compile(
    r"^\s*(sum|count|avg|min|max|group|stddev|stdvar|topk|bottomk|quantile|count_values)\s*(\(|by\b|without\b)",
    re.IGNORECASE,
)


def render(template: str, *, slot: str, env: str, window_s: float) -> str:
    """A query template with ``{slot}``, ``{env}`` and ``{window}`` filled in (PromQL's own braces kept).

    The window is rounded down to the millisecond so that a range never reaches back before the window.
    """
    window = f"{max(1, math.floor(window_s * 1000))}ms"
    filled = template.replace("{tenant_labels}", "")  # the slot as a whole; tenants fill it first
    return filled.replace("{slot}", slot).replace("{env}", env).replace("{window}", window)


@dataclass(frozen=True)
class ScrapeTiming:
    """How often the slot's series are scraped, and where that figure came from."""

    interval_s: float
    timeout_s: float
    origin: str

    @property
    def settle_s(self) -> float:
        """How long after the window opens the first scrape taken inside it is queryable."""
        return self.interval_s + self.timeout_s + SETTLE_MARGIN_S


def go_duration(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_duration(text)
    except ValueError:
        return None


def api_error(body: str) -> str:
    """The ``error`` of an API error answer (``{"status":"error","error":"1:5: parse error: ..."}``), else the body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    return str(parsed.get("error", body)) if isinstance(parsed, dict) else body


def check_queries(
    series: Callable[..., Any], queries: Mapping[str, str | None], *, slot: str, env: str, file: str
) -> tuple[list[ConfigError], list[ConfigError]]:
    """Problems and warnings about the queries, found by Prometheus' own parser when it is reachable.

    Each query is evaluated at time 0 (a dry run: no data is that old, so
    it costs nothing). A query Prometheus rejects is a problem; an
    unreachable Prometheus, or a counter query that aggregates its series
    (a ``sum`` hides resets and missing series), is a warning.
    """
    problems: list[ConfigError] = []
    warnings: list[ConfigError] = []
    for name, template in queries.items():
        if template is None:
            continue
        key = f"fleet:analysis.queries.{name}"
        if name != "p99" and _AGGREGATION.match(template):
            warnings.append(ConfigError(
                "aggregates its series: fleet needs each counter as its own series to detect resets and "
                "missing scrapes (drop the sum; fleet adds the series up)", file=file, key=key,
            ))
        promql = render(template, slot=slot, env=env, window_s=60.0)
        try:
            series(promql, at=0.0)
        except (TransientError, AccessDenied) as err:  # both are ProviderErrors: they come first
            warnings.append(ConfigError(
                f"queries not checked: could not reach Prometheus ({err})", file=file, key="fleet:analysis.url",
            ))
            break
        except ProviderError as err:
            problems.append(ConfigError(f"Prometheus rejects it: {err}", file=file, key=key))
    return problems, warnings
