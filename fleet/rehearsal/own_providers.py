"""Rehearsing an environment on its OWN providers: Route53 on moto, a real Prometheus, its own queries.

The HAProxy rehearsal (:mod:`fleet.rehearsal.real`) proves fleet's engine
and gate, but an environment that moves traffic with Route53 and judges with
Prometheus would pass it without its two riskiest parts ever running: the
DNS settle waits and the PromQL. Here, on 127.0.0.1:

* **Traffic**: the real :class:`~fleet.adapters.traffic.route53.Route53Traffic`,
  built from the environment's ``fleet:traffic`` block, talks to moto in
  server mode (:mod:`fleet.rehearsal.dns_world`), which holds the
  environment's zone with a weighted CNAME per slot and hostname; the users
  find the slots' stand-in ingresses through caching resolvers
  (:mod:`fleet.rehearsal.resolvers`), so the split follows the weights only
  as caches expire, and the settle wait is measured after every change;
* **Analysis**: the real :class:`~fleet.adapters.analysis.prometheus.PrometheusAnalysis`
  with the environment's own queries, against a real Prometheus
  (:mod:`fleet.rehearsal.prometheus_process`) scraping the stand-in
  ingresses' exporters (:mod:`fleet.rehearsal.exporter`);
* everything else as in the HAProxy rehearsal: simulated provisioning, kmock
  clusters with a simulated Flux read by the real health gate, the real
  engine and state store.

A piece this machine lacks is replaced by the HAProxy rehearsal's and the
first lines say so and why. Such a rehearsal cannot be resumed (moto keeps
its zone in memory), so ``crash-after`` is not offered, nor the HAProxy-only
faults.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any

from fleet.config import EnvironmentConfig
from fleet.domain.model import AnalysisPolicy, SlotName, Weights
from fleet.errors import UsageError
from fleet.rehearsal.parts import LOAD_THREADS, Parts
from fleet.rehearsal.prometheus_process import find_prometheus
from fleet.rehearsal.real import RealRun
from fleet.rehearsal.real_faults import RealFaults
from fleet.rehearsal.waits import Waits

WORLD = "providers"
REFUSED_FAULTS = ("crash-after", "haproxy-reload", "hand-edit")


@dataclass(frozen=True)
class ProviderWaits(Waits):
    """The HAProxy rehearsal's waits, with a window long enough for scrapes and DNS caches."""

    window_s: float = 3.0
    ttl_s: int = 1
    """The records' TTL (configured: ``fleet:traffic.ttl``): how long resolvers cache, what fleet waits per step."""
    resolvers: int = 32
    scrape_s: float = 0.5
    """Prometheus' scrape interval for the stand-in ingresses."""

    def min_requests(self, policy: AnalysisPolicy, first_step: int) -> int:
        """A quarter of what the first window can expect: resolvers answer in lumps of one cache each."""
        expected = self.rate * first_step / 100 * self.window_s
        return max(1, min(policy.min_requests, math.floor(expected / 4)))

    def rows(self, config: EnvironmentConfig) -> list[dict[str, str]]:
        rows = super().rows(config)
        if config.traffic.get("provider") == "route53":
            rows.append({"wait": "DNS TTL (settle per step)", "configured": f"{config.traffic.get('ttl', 60)}s",
                         "rehearsal": f"{self.ttl_s}s, {self.resolvers} caching resolvers"})
        if config.analysis.get("source") == "prometheus":
            rows.append({"wait": "Prometheus scrape interval", "configured": "(server)",
                         "rehearsal": f"{self.scrape_s:g}s"})
        return rows


@dataclass(frozen=True)
class Plan:
    """Which of the environment's providers run for real here, and why any does not."""

    route53: bool
    prometheus: bool
    missing: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        real = [name for name, on in (("Route53 on moto", self.route53), ("a real Prometheus", self.prometheus)) if on]
        return "real parts" + (f": {', '.join(real)}" if real else "")


def wanted(config: EnvironmentConfig) -> bool:
    """The environment has providers of its own the HAProxy rehearsal would not run."""
    return config.traffic.get("provider") == "route53" or config.analysis.get("source") == "prometheus"


def plan(config: EnvironmentConfig) -> Plan:
    from fleet.rehearsal.dns_world import find_moto_server

    missing = []
    route53 = config.traffic.get("provider") == "route53"
    if route53 and (find_moto_server() is None or importlib.util.find_spec("boto3") is None):
        missing.append("Route53 needs moto_server and boto3 (pip install 'moto[server]' boto3)")
        route53 = False
    prometheus = config.analysis.get("source") == "prometheus"
    if prometheus and find_prometheus() is None:
        missing.append("Prometheus needs the prometheus binary (Debian package prometheus)")
        prometheus = False
    if route53 and not prometheus:
        missing.append("Route53 traffic needs an analysis source that does not read HAProxy: rehearsing on HAProxy")
        route53 = False
    return Plan(route53, prometheus, tuple(missing))


@dataclass
class ProviderRun(RealRun):
    through: str = "HAProxy"
    lines: list[str] = field(default_factory=list)
    """What ran for real and what stood in, per port (printed first), and what was measured."""
    changes: list[float] = field(default_factory=list)
    kind: str = "real parts"
    """What the report's title calls this rehearsal."""


class ProviderParts(Parts):
    """The HAProxy rehearsal's parts, with Route53 on moto and a real Prometheus where the plan says."""

    def __init__(self, config: EnvironmentConfig, plan: Plan, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config
        self.plan = plan
        self.moto: Any = None
        self.prometheus: Any = None

    def start_traffic(self) -> None:
        if not self.plan.route53:
            super().start_traffic()
        else:
            self._start_dns()
        if self.plan.prometheus:
            from fleet.rehearsal.prometheus_process import PrometheusProcess

            targets = [f"{b.address[0]}:{b.address[1]}" for b in self.backends.values()]
            waits: Any = self.waits
            self.prometheus = PrometheusProcess(targets, interval_s=waits.scrape_s, timeout_s=waits.scrape_s * 0.8)
            self._stack.callback(self.prometheus.close)
            self.prometheus.start()

    def _start_dns(self) -> None:
        from fleet.adapters.traffic.route53 import route53_weights
        from fleet.rehearsal.dns_world import MotoRoute53, ingress_value, zone_of

        host = self._host()
        for slot in SlotName:
            faulty = slot is self.new
            self.backends[slot.value] = host.backend(
                slot.value, error_rate=self.faults.green_errors if faulty else 0.0,
                latency_s=self.faults.green_slow_ms / 1000 if faulty else 0.0,
            )
        self.moto = MotoRoute53()
        self._stack.callback(self.moto.stop)
        self.moto.start()
        hostnames = [str(h) for h in self.config.traffic.get("hostnames", [])]
        weights = route53_weights(Weights(**self.world.weights))
        waits: Any = self.waits
        self.moto.seed(zone_of(hostnames), hostnames, {s.value: w for s, w in weights.items()}, waits.ttl_s)
        limit = 300.0
        dns = {"endpoint": self.moto.url, "zone_id": self.moto.zone_id, "hostnames": hostnames,
               "values": {ingress_value(s.value): s.value for s in SlotName}, "resolvers": waits.resolvers}
        host.call("load_start", url="http://127.0.0.1/", dns=dns, rate=waits.rate, total=int(waits.rate * limit),
                  time_limit_s=limit, threads=LOAD_THREADS)
        self._stack.callback(self.stop_load)

    def kill_with_process(self) -> None:
        super().kill_with_process()
        for part in (self.moto, self.prometheus):
            if part is not None:
                part.stop()

    def traffic(self) -> Any:
        if not self.plan.route53:
            from fleet.adapters.traffic.haproxy import HAProxyTraffic

            return HAProxyTraffic(self.haproxy.socket_path)
        from fleet.adapters.traffic.route53 import Route53Traffic
        from fleet.adapters.traffic.route53_records import settings_arguments

        waits: Any = self.waits
        settings = {**self.config.traffic, "zoneId": self.moto.zone_id, "endpointUrl": self.moto.url,
                    "ttl": waits.ttl_s, "syncPoll": "100ms", "retryBudget": "5s"}
        return Route53Traffic(**settings_arguments(settings, file=self.config.file), session=self.moto.session)

    def analysis(self) -> Any:
        if not self.plan.prometheus:
            from fleet.adapters.analysis.haproxy import HAProxyAnalysis

            return HAProxyAnalysis(self.haproxy.socket_path)
        from fleet.adapters.analysis.prometheus import PrometheusAnalysis
        # the plan chose Prometheus because fleet:analysis names it: its settings are the environment's own
        settings = {**self.config.analysis, "url": self.prometheus.url, "interval": "250ms"}
        return PrometheusAnalysis.from_settings(self.config.name, settings, file=self.config.file)


def describe(config: EnvironmentConfig, parts: ProviderParts) -> list[str]:
    """Per port: what is real and what stands in (the rehearsal's first lines)."""
    t, a = config.traffic, config.analysis
    lines = [
        "Provisioner   stand-in: simulated (a delay, then a kmock Kubernetes API per slot; configured: "
        f"{config.raw.get('cluster', {}).get('driver', '?')})",
        "GitOpsHealth  real Flux health gate, reading stand-in kmock APIs whose Flux is simulated",
    ]
    if parts.plan.route53:
        lines.append(
            f"Traffic       real Route53 adapter against stand-in Route53: moto_server {parts.moto.url} (pid "
            f"{parts.moto.pid}), zone {parts.moto.zone_id} standing for {t.get('zoneId')}; users resolve "
            f"{', '.join(t.get('hostnames', []))} through {parts.waits.resolvers} simulated resolvers "  # type: ignore[attr-defined]
            "caching each answer for the record's TTL"
        )
    else:
        lines.append(f"Traffic       real HAProxy adapter and HAProxy (configured: {t.get('provider', 'haproxy')})")
    if parts.plan.prometheus:
        lines.append(
            f"Analysis      real Prometheus source, {config.name}'s own queries, against a real "
            f"{parts.prometheus.version()} at {parts.prometheus.url} (pid {parts.prometheus.pid}) scraping the "
            f"stand-in ingresses' exporters (configured: {a.get('url')})"
        )
    else:
        lines.append(f"Analysis      real HAProxy counters (configured: {a.get('source', 'haproxy')})")
    lines.append("Ingresses     stand-in: one HTTP backend per slot, ~200 users' requests/s")
    lines.append("StateStore    real (the rehearsal's own store); Clock: real, waits compressed (below)")
    return lines + [f"not rehearsed for real: {m}" for m in parts.plan.missing]


def query_warnings(parts: ProviderParts, analysis: Any) -> list[str]:
    """What ``fleet validate`` would say of the queries, now that a real Prometheus parses them (problems: exit 2)."""
    if not parts.plan.prometheus:
        return []
    problems, warnings = analysis.check_online(parts.config.name, file=parts.config.file)
    if problems:
        raise UsageError("Prometheus rejects " + "; ".join(f"{p.key}: {p.detail}" for p in problems))
    return [f"Prometheus on {parts.config.name}'s queries: {w.key}: {w.detail}" for w in warnings]


def check_queries(parts: ProviderParts, analysis: Any) -> None:
    """Before the cutover: the environment's counter queries must find the stand-ins' series for both slots."""
    if not parts.plan.prometheus:
        return
    from fleet.adapters.analysis.prometheus import render

    empty = []
    for name, template in (("requests", analysis.requests_query), ("errors", analysis.errors_query)):
        for slot in SlotName:
            promql = render(template, slot=analysis.slots[slot], env=parts.config.name, window_s=60.0)
            if not analysis.series(promql):
                empty.append(f"{name} for {slot.value} ({promql})")
    if empty:
        raise UsageError(
            "the environment's Prometheus queries find nothing the stand-in ingresses export: "
            + "; ".join(empty) + ". They export haproxy_backend_http_responses_total{proxy=\"ingress-<slot>\","
            "server=\"<slot>\",code=\"2xx|5xx|...\"} and http_request_duration_seconds_bucket{slot=\"<slot>\"}"
        )


def refuse_faults(faults: RealFaults) -> None:
    refused = [spec for spec in faults.specs if spec.partition("=")[0] in REFUSED_FAULTS]
    if refused:
        raise UsageError(
            f"the rehearsal on the environment's own providers does not offer {', '.join(refused)} "
            "(moto keeps its zone in memory, so it cannot be resumed; HAProxy faults need HAProxy)"
        )


def settles(run: ProviderRun) -> list[Any]:
    """What the resolvers did after each weight change, measured from the users' requests (Route53 only)."""
    from fleet.rehearsal.dns_world import measured_settles

    return measured_settles(run.requests, run.changes) if run.through != "HAProxy" else []


def settle_line(found: list[Any], ttl_s: float) -> str | None:
    if not found:
        return None
    worst = max(s.stale_for_s for s in found)
    return (
        f"DNS settle: after each of {len(found)} weight changes, users were sent by answers cached before it "
        f"for up to {worst:.2f}s ({sum(s.stale_requests for s in found)} requests; record TTL {ttl_s:g}s, "
        "which fleet waited before analysing each step)"
    )


def refuse_resume(location: str, env: str) -> None:
    """``fleet resume`` of this rehearsal: its zone lived in moto's memory and ended with it."""
    from fleet.rehearsal.files import RehearsalFiles, load_marker
    from fleet.state import open_store

    marker = load_marker(RehearsalFiles(open_store(location, rehearsal=True)), env)
    if marker.get("world") == WORLD:
        raise UsageError(
            f"{location} is a rehearsal on {env}'s own providers, whose Route53 zone (moto) and Prometheus "
            "ended with it: it cannot be resumed; start anew"
        )
