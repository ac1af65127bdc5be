"""Builds the real adapters for an environment from its configuration.

This is the one place that knows which adapter serves which port. Every
import of an adapter (and so of pulumi, kubernetes or boto3) happens inside a
function here, so that commands which do not need them never load them, and
building the ports does no I/O: a locked environment is reported (exit 3)
before any adapter talks to the outside world.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.config import EnvironmentConfig
from fleet.domain.machine import EnvironmentState
from fleet.domain.model import Role
from fleet.errors import ConfigError, FleetError
from fleet.ports import Confirm, Notice, Notifier

if TYPE_CHECKING:
    from fleet.adapters.notify.hooks import HttpHooks
    from fleet.adapters.notify.outbox import WebhookOutbox
    from fleet.adapters.notify.tenants import TenantMessenger
    from fleet.domain.health import HealthSettings
    from fleet.engine import Ports

DEFAULT_ANALYSIS = {"source": "haproxy"}
_SHARED_WITH_TRAFFIC = ("socket", "backend", "servers")


def analysis_settings(config: EnvironmentConfig) -> dict[str, Any]:
    """``fleet:analysis``, where HAProxy analysis reads the socket and servers ``fleet:traffic`` names."""
    settings = dict(config.analysis or DEFAULT_ANALYSIS)
    settings.setdefault("source", DEFAULT_ANALYSIS["source"])
    if settings["source"] == "haproxy" and config.traffic.get("provider") == "haproxy":
        for key in _SHARED_WITH_TRAFFIC:
            if key in config.traffic:
                settings.setdefault(key, config.traffic[key])
    return settings


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def _tenant_traffic(config: EnvironmentConfig) -> object:
    from fleet.domain.tenants import tenant_traffic_from_config

    return tenant_traffic_from_config(config.raw, file=config.file)


def _health_settings(config: EnvironmentConfig) -> HealthSettings:
    from fleet.domain.health import health_settings_from_config

    return health_settings_from_config(config.raw, file=config.file)


def production_ports(config: EnvironmentConfig, project: Path, notifier: Notifier, confirm: Confirm) -> Ports:
    """The ports of a real cutover of ``config``: Pulumi, the Flux health gate, the configured traffic."""
    from fleet.adapters.analysis import analysis_from_settings
    from fleet.adapters.analysis.window import attach_progress
    from fleet.adapters.kube import FluxHealthGate
    from fleet.adapters.kube.singletons import KubeSingletons
    from fleet.adapters.notify.outbox import Tee
    from fleet.adapters.pulumi_engine import use_built_engine
    from fleet.adapters.pulumi_provisioner import PulumiProvisioner
    from fleet.adapters.traffic import traffic_from_settings
    from fleet.engine import Ports

    use_built_engine(project)

    def show(line: str) -> None:
        notifier.notify(Notice(config.name, "output", line.rstrip()))

    analysis = analysis_from_settings(config.name, analysis_settings(config), file=config.file)
    analysis = _with_tenants(analysis, config)
    attach_progress(analysis, notifier, config.name)
    outbox, hooks = notify_ports(config, notifier)
    if outbox is not None:
        notifier = Tee(notifier, outbox)
    tenants = tenant_messenger(config, outbox)
    return Ports(
        provisioner=PulumiProvisioner(project, show),
        health=FluxHealthGate.from_settings(_health_settings(config)),
        traffic=traffic_from_settings(config.name, config.traffic, file=config.file),
        analysis=analysis,
        clock=SystemClock(),
        notifier=notifier,
        confirm=confirm,
        outbox=outbox,
        hooks=hooks,
        tenants=tenants,
        singletons=KubeSingletons(),
    )


def notify_ports(
    config: EnvironmentConfig, notifier: Notifier
) -> tuple[WebhookOutbox | None, HttpHooks | None]:
    """The outbox of ``fleet:notifications`` (and the load-test triggers) and the smoke tests of ``fleet:hooks``."""
    from fleet.adapters.notify.hooks import HttpHooks
    from fleet.adapters.notify.outbox import STORY, DeliveryPolicy, WebhookOutbox
    from fleet.adapters.notify.webhook import UrllibWebhook
    from fleet.domain.tenants import tenant_traffic_from_config
    from fleet.notify_settings import notify_settings
    from fleet.ports import Target

    settings = notify_settings(config.raw, file=config.file)
    contacts = [
        Target(kind="webhook", url=t.contact.webhook, name=f"{t.name} contact", events=frozenset({STORY}),
               tenant=t.name)
        for t in tenant_traffic_from_config(config.raw, file=config.file) if t.contact.webhook
    ]
    for skipped in settings.skipped:
        notifier.notify(Notice(config.name, "output", f"notifications: {skipped}"))
    webhook = UrllibWebhook()
    targets = list(settings.targets) + [
        Target(kind="webhook", url=h.url, name=h.name, events=frozenset({"step"}), tenant=h.tenant)
        for h in settings.load_tests
    ] + contacts
    policy = DeliveryPolicy(timeout_s=settings.timeout_s, attempts=settings.attempts, budget_s=settings.budget_s)
    outbox = WebhookOutbox(targets, webhook, policy) if targets else None
    hooks = HttpHooks(settings.smoke, webhook) if settings.smoke else None
    return outbox, hooks


def tenant_messenger(config: EnvironmentConfig, outbox: WebhookOutbox | None) -> TenantMessenger | None:
    """Who tells each tenant its story when a run ends: only when some target speaks for a tenant."""
    if outbox is None or not any(t.tenant for t in outbox.targets):
        return None
    from fleet.adapters.notify.tenants import TenantMessenger
    from fleet.domain.tenants import tenant_traffic_from_config

    settings = _health_settings(config)
    contacts = {t.name: t.contact for t in tenant_traffic_from_config(config.raw, file=config.file)}
    return TenantMessenger(outbox, settings, contacts, [t.name for t in settings.tenants])


def _with_tenants(analysis: Any, config: EnvironmentConfig) -> Any:
    """The analysis with each tenant whose traffic can be told apart judged on its own (``fleet:tenants``)."""
    from fleet.adapters.analysis.tenants import with_tenants_from_settings
    from fleet.domain.tenants import tenant_traffic_from_config

    return with_tenants_from_settings(analysis, tenant_traffic_from_config(config.raw, file=config.file))


def validate_adapters(config: EnvironmentConfig) -> list[ConfigError]:
    """Problems the adapters find in their own sections of the configuration."""
    from fleet.adapters.analysis import analysis_from_settings
    from fleet.adapters.traffic import traffic_from_settings
    from fleet.adapters.traffic.settings import collecting_unknown_keys
    from fleet.infra.settings import infra_problems

    checks: list[Any] = [
        lambda: traffic_from_settings(config.name, config.traffic, file=config.file),
        lambda: analysis_from_settings(config.name, analysis_settings(config), file=config.file),
        lambda: _health_settings(config),
        lambda: _tenant_traffic(config),
    ]
    problems: list[ConfigError] = infra_problems(config.raw, file=config.file)
    for check in checks:
        with collecting_unknown_keys() as unknown:
            try:
                check()
            except ConfigError as err:
                unknown.append(err)
        problems.extend(unknown)
    problems.extend(cross_field_problems(config))
    from fleet.upgrade.settings import upgrade_problems

    problems.extend(upgrade_problems(config))
    return problems


def cross_field_problems(config: EnvironmentConfig) -> list[ConfigError]:
    """Keys of different blocks that must agree: ``fleet:traffic`` against ``fleet:dns``, ``fleet:hostnames``
    and ``fleet:teardown.bake`` (at least the records' TTL, so no cached answer points at a destroyed slot).

    ``fleet:dns`` is where the slots' weighted records are created and
    ``fleet:hostnames`` what both slots serve; the traffic adapter moves the
    weights of ``fleet:traffic.hostnames`` in ``fleet:traffic.zoneId``. If they
    disagree, a cutover moves weights of records the clusters do not own.
    """
    traffic, dns = config.traffic, config.raw.get("dns")
    problems: list[ConfigError] = []

    def problem(key: str, message: str) -> None:
        problems.append(ConfigError(message, file=config.file, key=config.key(key)))

    if isinstance(dns, dict) and dns:
        zone, dns_zone = traffic.get("zoneId"), dns.get("zoneId")
        if isinstance(zone, str) and isinstance(dns_zone, str) and zone.strip() != dns_zone.strip():
            problem("traffic.zoneId", f"{zone!r} differs from fleet:dns.zoneId {dns_zone!r}: use the same hosted zone")
        ttl, dns_ttl = traffic.get("ttl", 60), dns.get("ttl", 60)
        if "zoneId" in traffic and _whole(ttl) and _whole(dns_ttl) and ttl != dns_ttl:
            problem(
                "traffic.ttl",
                f"{ttl} differs from fleet:dns.ttl {dns_ttl}: the settle wait after a step must cover the records' TTL",
            )
    ttl = traffic.get("ttl", 60)
    if traffic.get("provider") == "route53" and _whole(ttl) and config.teardown.bake_s < ttl:
        problem(
            "teardown.bake",
            f"{config.teardown.bake_s:g}s is shorter than the records' TTL ({ttl}s, fleet:traffic.ttl): resolvers "
            "would still send users to the old slot after it is destroyed",
        )
    names = traffic.get("hostnames")
    if isinstance(names, str):
        names = [names]
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        served = {_host(name) for name in config.hostnames}
        missing = [name for name in names if _host(name) not in served]
        if missing:
            problem(
                "traffic.hostnames",
                f"{', '.join(missing)} not in fleet:hostnames ({', '.join(config.hostnames) or 'empty'}): "
                "the slots would not serve a name whose weights move",
            )
    return problems


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _host(name: str) -> str:
    return name.strip().lower().rstrip(".")


def health_view(config: EnvironmentConfig, project: Path, state: EnvironmentState | None) -> list[dict[str, Any]]:
    """The Flux health gate's report for each present slot, one row per tenant.

    Every row says whether the slot could be asked at all (``asked``; when
    not, ``error`` says why and ``reconciled`` is None): a tool or network
    error is not an unhealthy cluster.
    """
    from fleet.adapters.kube import FluxHealthGate
    from fleet.adapters.pulumi_engine import use_built_engine
    from fleet.adapters.pulumi_provisioner import PulumiProvisioner
    from fleet.domain.health import tenant_rows

    use_built_engine(project)
    state = state or EnvironmentState.seed(config.name, config.version)
    provisioner = PulumiProvisioner(project, lambda line: None)
    rows: list[dict[str, Any]] = []
    with FluxHealthGate.from_settings(_health_settings(config)) as gate:
        for name, slot in sorted(state.slots.items()):
            if slot.role is Role.ABSENT:
                continue
            try:
                outputs = provisioner.outputs(config.name, name)
                if outputs is None:
                    rows.append({"slot": name.value, "tenant": "-", "asked": True, "reconciled": False, "objects": 0,
                                 "failing": "not provisioned", "error": ""})
                    continue
                report = gate.report(config.name, name, outputs)
            except FleetError as err:
                rows.append({"slot": name.value, "tenant": "-", "asked": False, "reconciled": None, "objects": None,
                             "failing": "", "error": str(err)})
                continue
            rows.extend({"slot": name.value, "asked": True, **row, "error": ""} for row in tenant_rows(report))
    return rows


READBACK_BUDGET_S = 3.0
"""How long ``fleet status`` waits for one environment's traffic provider."""


def traffic_readback(config: EnvironmentConfig, state: EnvironmentState | None) -> dict[str, Any]:
    """What the environment's traffic provider itself says, compared with the record, for ``fleet status``.

    ``weights`` is the provider's split (or None), ``drift`` says how it differs from the
    record (None when it agrees), ``error`` why it could not be read.
    """
    from fleet.adapters.traffic import traffic_from_settings
    from fleet.domain.traffic import weight_drift
    from fleet.retry import Deadline, bounded

    if state is None:
        return {"weights": None, "drift": None, "error": None, "slots": {}}
    try:
        with bounded(Deadline(READBACK_BUDGET_S, what="reading the traffic provider back")):
            view = traffic_from_settings(config.name, config.traffic, file=config.file).observe(config.name)
    except FleetError as err:
        return {"weights": None, "drift": None, "error": str(err), "slots": {}}
    return {
        "weights": None if view.weights is None else str(view.weights),
        "drift": weight_drift(state.weights, view),
        "error": None,
        "slots": {
            slot.value: {"weight": e.weight, "state": e.state.value, "sessions": e.sessions, "address": e.address}
            for slot, e in sorted(view.slots.items())
        },
    }


def traffic_readbacks(
    configs: dict[str, EnvironmentConfig], states: dict[str, EnvironmentState | None]
) -> dict[str, dict[str, Any]]:
    """``traffic_readback`` of several environments at once (each provider is asked in its own thread)."""
    from concurrent.futures import ThreadPoolExecutor

    if not configs:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(configs))) as pool:
        futures = {name: pool.submit(traffic_readback, config, states.get(name)) for name, config in configs.items()}
        return {name: future.result() for name, future in futures.items()}

