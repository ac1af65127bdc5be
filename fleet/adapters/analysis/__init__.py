"""Analysis adapters (the ``Analysis`` port), chosen by ``fleet:analysis.source`` in a stack file.

Every source reads a slot's requests, errors and latency its own way and
hands them to the same sequential judge (``fleet.domain.analysis``), so all
of them fail a bad slot early and pass a good one only after the whole
window. Sources are imported lazily, like traffic providers. The thresholds
(``successRate``, ``p99LatencyMs``, ``failedChecks``, ``window``,
``minRequests``, ``maxExtensions``) are parsed into ``AnalysisPolicy`` by the
configuration layer; the sources parse only their own keys and skip those
(``POLICY_KEYS``). See ``docs/traffic.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.adapters.registry import load_adapter
from fleet.errors import ConfigError
from fleet.ports import Analysis

SOURCES: dict[str, str] = {
    "haproxy": "fleet.adapters.analysis.haproxy:HAProxyAnalysis",
    "prometheus": "fleet.adapters.analysis.prometheus:PrometheusAnalysis",
    "probe": "fleet.adapters.analysis.probe:ProbeAnalysis",
}


def analysis_from_settings(env: str, settings: Mapping[str, Any], *, file: str) -> Analysis:
    """The Analysis adapter described by an environment's ``fleet:analysis`` block."""
    adapter: Analysis = load_adapter(SOURCES, settings, env=env, file=file, block="analysis", selector="source")
    return adapter


def check_analysis_online(
    env: str, settings: Mapping[str, Any], *, file: str
) -> tuple[list[ConfigError], list[ConfigError]]:
    """Problems and warnings a source finds by asking its server (``fleet validate``): PromQL Prometheus rejects.

    Sources without such a check answer nothing. A server that cannot be
    reached is a warning, never a problem: validation must work offline.
    """
    adapter = analysis_from_settings(env, settings, file=file)
    check = getattr(adapter, "check_online", None)
    if check is None:
        return [], []
    found: tuple[list[ConfigError], list[ConfigError]] = check(env, file=file)
    return found
