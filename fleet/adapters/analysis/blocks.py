"""The ``fleet:analysis`` block of each analysis source, as part of the typed model (``fleet.settings``).

The judgement every source shares (``successRate``, ``window``...) is the
core model's (``fleet.settings.rollout.Analysis``); each source reads only
its own keys here, with the same types and messages.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from fleet.adapters.analysis.haproxy import LATENCY_MODES
from fleet.adapters.analysis.probe import MAX_RATE
from fleet.adapters.traffic.blocks import HAProxyName, ServerNames, Socket
from fleet.settings.blocks import Block, between, choice, slot_names
from fleet.settings.types import Duration, Number, Text, labelled, problem


class HAProxyAnalysisBlock(Block):
    """``source: haproxy``: the slots' servers' counters, read from HAProxy's runtime API."""

    source: Any = None
    socket: Socket
    backend: HAProxyName = "app"
    servers: ServerNames = {}
    interval: Annotated[Duration, between(0.01, 10.0)] = 0.05
    latency: Annotated[str, choice(*LATENCY_MODES)] = "max"
    timeout: Annotated[Duration, between(0.05, 60.0)] = 2.0


@labelled("`{blue, green}` of URLs")
def _urls(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise problem(f"must be a mapping, not {value!r}")
    for key, url in value.items():
        if key not in ("blue", "green"):
            raise problem(f"unknown slot {key!r}; slots are blue and green")
        if not isinstance(url, str):
            raise problem(f"must be a URL string, not {url!r}", key=f"urls.{key}")
    return dict(value)


class ProbeBlock(Block):
    """``source: probe``: fleet's own requests to each slot."""

    source: Any = None
    urls: Annotated[dict[str, str], BeforeValidator(_urls)]
    rate: Annotated[Number, between(0.1, MAX_RATE)] = 10.0
    timeout: Annotated[Duration, between(0.05, 60.0)] = 2.0
    host: Text | None = None


def _http(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise problem(f"{value!r} is not an http(s) URL")
    return value


@labelled("`{requests, errors, p99}` of PromQL")
def _queries(value: object) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise problem(f"must be a mapping, not {value!r}")
    unknown = sorted(str(k) for k in value if k not in ("requests", "errors", "p99"))
    if unknown:
        raise problem(f"unknown query {', '.join(unknown)}; expected requests, errors, p99")
    texts: dict[str, str | None] = {}
    for name in ("requests", "errors", "p99"):
        text = value.get(name)
        if text is None and name != "p99":
            raise problem("is required", key=f"queries.{name}")
        if text is not None and (not isinstance(text, str) or "{slot}" not in text):
            raise problem("must be a PromQL string containing {slot}", key=f"queries.{name}")
        texts[name] = text
    return texts


class PrometheusBlock(Block):
    """``source: prometheus``: the slots' request and error counters, queried from Prometheus."""

    source: Any = None
    url: Annotated[Text, AfterValidator(_http)]
    queries: Annotated[dict[str, str | None], BeforeValidator(_queries)]
    slots: Annotated[dict[str, str], slot_names("slots")] = {}
    interval: Annotated[Duration, between(0.05, 60.0)] = 1.0
    min_range: Annotated[Duration, between(0.001, 86_400.0)] | None = Field(None, alias="minRange")
    scrape_interval: Annotated[Duration, between(0.01, 3600.0)] | None = Field(None, alias="scrapeInterval")
    timeout: Annotated[Duration, between(0.1, 60.0)] = 5.0
