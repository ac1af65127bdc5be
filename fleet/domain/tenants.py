"""Tenants judged on their own: their share of the traffic, their Flux objects, their contact.

A slot-wide success rate hides a small tenant: with 0.5 % of the requests,
a tenant whose every request fails on the new slot still leaves the slot at
99.5 %. So each tenant's share (told apart by host name, path prefix or
ingress class, as the analysis source can see it) is judged with the same
sequential judge as the slot (:mod:`fleet.domain.analysis`), and a tenant
that fails fails the window: the cutover rolls back with the tenant named.

Judging ``k`` tenants is ``k`` more chances of a false FAIL, so each
tenant's judge runs at ``alpha / k`` (early FAIL) and ``1 - (1 -
confidence) / k`` (end of the window): the tenants together fail a healthy
slot no more often than the slot's own judge alone (a union bound).

A tenant whose share was too small to judge (INCONCLUSIVE) does not hold the
step: it is reported as such, and its own probes (``traffic.probes``), when
configured, are the evidence instead (a probe FAIL fails the window).

This module is pure: the analysis sources count, the machine decides through
:func:`with_tenants`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.domain.analysis import SprtSettings
from fleet.domain.health_settings import HealthSettings
from fleet.domain.reports import Evidence, HealthReport, ObjectRef, Outcome, TenantVerdict, Verdict
from fleet.errors import ConfigError

TENANTS_KEY = "fleet:tenants"
TRAFFIC_KEYS = frozenset({"hosts", "pathPrefixes", "ingressClass", "labels", "probes"})
CONTACT_KEYS = frozenset({"webhook", "slack"})
HAPROXY_TABLE = "fleet_tenants"
"""The stick table the HAProxy lines count tenants' answers in (``docs/traffic.md``)."""


@dataclass(frozen=True)
class TenantContact:
    """Where a tenant's own messages go (delivered by the notification channels)."""

    webhook: str | None = None
    slack: str | None = None


@dataclass(frozen=True)
class TenantTraffic:
    """How a tenant's requests are told apart, and how it is reached."""

    name: str
    hosts: tuple[str, ...] = ()
    path_prefixes: tuple[str, ...] = ()
    ingress_class: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    """Prometheus label matchers for the tenant's series (``{tenant_labels}`` in the queries)."""
    probes: Mapping[str, str] = field(default_factory=dict)
    """A probe URL per slot (``blue``/``green``): the fallback evidence for a tenant with too little traffic."""
    contact: TenantContact = TenantContact()

    @property
    def judged(self) -> bool:
        """Whether any source can tell this tenant's traffic apart."""
        return bool(self.hosts or self.path_prefixes or self.ingress_class or self.labels or self.probes)

    def promql_labels(self) -> str:
        """``,k="v",...`` to put inside a selector's braces after the slot's own matchers."""
        return "".join(f',{key}="{value}"' for key, value in sorted(self.labels.items()))


def tenant_traffic_from_config(raw: Mapping[str, Any], *, file: str) -> tuple[TenantTraffic, ...]:
    """Each tenant's ``traffic`` and ``contact`` from ``fleet:tenants`` (the health gate reads the rest)."""
    value = raw[TENANTS_KEY] if TENANTS_KEY in raw else raw.get("tenants")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise ConfigError(f"is not valid JSON: {err}", file=file, key=TENANTS_KEY) from err
    if not value:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError("must be a mapping of tenant names", file=file, key=TENANTS_KEY)
    found: list[TenantTraffic] = []
    for name, given in value.items():
        key = f"{TENANTS_KEY}.{name}"
        spec = given if isinstance(given, Mapping) else {}
        traffic = _section(spec.get("traffic"), TRAFFIC_KEYS, file, f"{key}.traffic")
        contact = _section(spec.get("contact"), CONTACT_KEYS, file, f"{key}.contact")
        probes = _strings(traffic.get("probes"), file, f"{key}.traffic.probes", mapping=True)
        bad_slots = sorted(set(probes) - {"blue", "green"})
        if bad_slots:
            raise ConfigError(f"unknown slot(s) {', '.join(bad_slots)}; slots are blue and green",
                              file=file, key=f"{key}.traffic.probes")
        for slot, url in probes.items():
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"{url!r} is not an http(s) URL", file=file, key=f"{key}.traffic.probes.{slot}")
        prefixes = tuple(_strings(traffic.get("pathPrefixes"), file, f"{key}.traffic.pathPrefixes"))
        if any(not p.startswith("/") for p in prefixes):
            raise ConfigError("path prefixes start with /", file=file, key=f"{key}.traffic.pathPrefixes")
        ingress_class = traffic.get("ingressClass")
        if ingress_class is not None and (not isinstance(ingress_class, str) or not ingress_class):
            raise ConfigError("must be an IngressClass name", file=file, key=f"{key}.traffic.ingressClass")
        webhook = contact.get("webhook")
        if webhook is not None and (not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))):
            raise ConfigError(f"{webhook!r} is not an http(s) URL", file=file, key=f"{key}.contact.webhook")
        slack = contact.get("slack")
        if slack is not None and (not isinstance(slack, str) or not slack.startswith("#")):
            raise ConfigError(f"{slack!r} is not a Slack channel (#name)", file=file, key=f"{key}.contact.slack")
        found.append(TenantTraffic(
            name=str(name),
            hosts=tuple(_strings(traffic.get("hosts"), file, f"{key}.traffic.hosts")),
            path_prefixes=prefixes,
            ingress_class=ingress_class,
            labels=_strings(traffic.get("labels"), file, f"{key}.traffic.labels", mapping=True),
            probes=probes,
            contact=TenantContact(webhook=webhook, slack=slack),
        ))
    return tuple(found)


def _section(value: object, allowed: frozenset[str], file: str, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("must be a mapping", file=file, key=key)
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(allowed))})",
                          file=file, key=key)
    return value


def _strings(value: object, file: str, key: str, *, mapping: bool = False) -> Any:
    if value is None:
        return {} if mapping else []
    if mapping:
        if not isinstance(value, Mapping) or not all(isinstance(v, str) and v for v in value.values()):
            raise ConfigError("must be a mapping of names to strings", file=file, key=key)
        return {str(k): v for k, v in value.items()}
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError("must be a list of strings", file=file, key=key)
    return list(value)


def judge_settings(settings: SprtSettings, tenants: int) -> SprtSettings:
    """The slot's judge settings shared out over ``tenants`` judges (a union bound on false FAILs)."""
    if tenants <= 1:
        return settings
    return replace(
        settings, alpha=settings.alpha / tenants, confidence=1.0 - (1.0 - settings.confidence) / tenants
    )


def tenant_verdict(tenant: str, traffic: Verdict, probe: Verdict | None = None) -> TenantVerdict:
    """A tenant's verdict: its traffic's, or, when that could not tell, its probes'."""
    if traffic.outcome is not Outcome.INCONCLUSIVE or probe is None:
        return TenantVerdict(tenant, traffic.outcome, traffic.evidence, traffic.reason,
                             probe.evidence if probe is not None else None)
    reason = f"too little traffic to judge ({traffic.reason}); probes: {probe.reason}"
    return TenantVerdict(tenant, probe.outcome, traffic.evidence, reason, probe.evidence)


def too_little_traffic(verdict: TenantVerdict) -> bool:
    return verdict.outcome is Outcome.INCONCLUSIVE


def with_tenants(verdict: Verdict) -> Verdict:
    """The window's verdict once its tenants are counted: any tenant's FAIL fails it, naming the tenant."""
    failed = [t for t in verdict.tenants if t.outcome is Outcome.FAIL]
    if not failed or (verdict.outcome is Outcome.FAIL and all(f"tenant {t.tenant}:" in verdict.reason for t in failed)):
        return verdict
    reason = "; ".join(f"tenant {t.tenant}: {t.reason}" for t in failed)
    if verdict.outcome is Outcome.FAIL:
        reason = f"{reason}; slot: {verdict.reason}"
    return replace(verdict, outcome=Outcome.FAIL, reason=reason)


def failing_tenants(verdict: Verdict) -> tuple[str, ...]:
    return tuple(t.tenant for t in verdict.tenants if t.outcome is Outcome.FAIL)


def blocking_reason(report: HealthReport) -> str | None:
    """Which tenants keep ``report``'s slot from being reconciled, with Flux's message per object."""
    parts: list[str] = []
    settling: list[str] = []
    for tenant in report.tenants:
        if tenant.reconciled or not tenant.failures:
            continue
        stuck = [f for f in tenant.failures if not f.transient]
        objects = "; ".join(f"{f.ref}: {f.reason}: {f.message}" for f in stuck or tenant.failures)
        (parts if stuck else settling).append(f"tenant {tenant.tenant}: {objects}")
    if not parts:  # only reconciles in progress: name them all the same
        parts = settling
    elif settling:
        parts.append(f"(+{len(settling)} tenant(s) still reconciling)")
    return " | ".join(parts) if parts else None


def haproxy_lines(tenants: tuple[TenantTraffic, ...]) -> tuple[list[str], list[str], list[str]]:
    """The HAProxy lines that count each tenant's answers per server (docs/traffic.md).

    Returns (frontend lines, lines of the slots' backend, the counting table's own backend section).
    """
    frontend: list[str] = []
    for tenant in tenants:
        for host in tenant.hosts:
            condition = f"{{ req.hdr(host),field(1,:) -i {host} }}"
            frontend.append(f"    http-request set-var(txn.fleet_tenant) str({tenant.name}) if {condition}")
        for prefix in tenant.path_prefixes:
            condition = f"{{ path_beg {prefix} }}"
            frontend.append(f"    http-request set-var(txn.fleet_tenant) str({tenant.name}) if {condition}")
    backend = [
        "    http-response set-var(txn.fleet_server) srv_name",
        "    http-response set-var(txn.fleet_key) var(txn.fleet_tenant),concat(/,txn.fleet_server)"
        " if { var(txn.fleet_tenant) -m found }",
        f"    http-response track-sc2 var(txn.fleet_key) table {HAPROXY_TABLE} if {{ var(txn.fleet_key) -m found }}",
    ]
    table = [
        f"backend {HAPROXY_TABLE}",
        "    stick-table type string len 128 size 10k store http_req_cnt,http_fail_cnt",
    ]
    return frontend, backend, table


def empty_evidence(source: str = "") -> Evidence:
    return Evidence(requests=0, errors=0, duration_s=0.0, source=source)


_CREATOR_NAME = "kustomize.toolkit.fluxcd.io/name"
_CREATOR_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"


def rooted_objects(settings: HealthSettings, labels: Mapping[ObjectRef, Mapping[str, str]]) -> dict[ObjectRef, str]:
    """Every Flux object a tenant's root Kustomization created, directly or through Kustomizations it created."""
    rooted: dict[ObjectRef, str] = {}
    for tenant in settings.tenants:
        for key in tenant.roots:
            namespace, name = key.split("/", 1)
            rooted.setdefault(ObjectRef("Kustomization", namespace, name), tenant.name)
    changed = bool(rooted)
    while changed:
        changed = False
        for ref, found in labels.items():
            creator = ObjectRef("Kustomization", found.get(_CREATOR_NAMESPACE, ""), found.get(_CREATOR_NAME, ""))
            if ref not in rooted and creator in rooted:
                rooted[ref] = rooted[creator]
                changed = True
    return rooted
