"""Reading a stack file's ``fleet:`` keys into the model, and the model into the domain's frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fleet.domain.model import AnalysisPolicy, HealthPolicy, RolloutPolicy, TeardownPolicy
from fleet.errors import ConfigError
from fleet.settings.durations import parse_duration
from fleet.settings.errors import NAMESPACE, read_all
from fleet.settings.hints import unknown_key_hint
from fleet.settings.model import FleetModel, HealthModel, InfraModel
from fleet.settings.rollout import Health

if TYPE_CHECKING:
    from fleet.domain.health import HealthSettings

__all__ = [
    "KNOWN_KEYS",
    "FleetModel",
    "InfraModel",
    "health_settings",
    "health_settings_from_config",
    "parse_duration",
    "read_fleet",
    "rollout_policy",
    "teardown_policy",
    "unknown_key_hint",
]

KNOWN_KEYS = frozenset(field.alias or name for name, field in FleetModel.model_fields.items())


_ORDER = (
    "cluster", "cluster.version", "rollout", "rollout.*", "rollout.steps", "analysis", "analysis.successRate",
    "analysis.p99LatencyMs", "analysis.failedChecks", "analysis.window", "analysis.minRequests",
    "analysis.maxExtensions", "rollout.stepBake", "rollout.healthTimeout", "health.regressionGrace",
    "health.parity", "teardown", "teardown.*", "teardown.confirm", "teardown.bake", "hostnames", "traffic", "state",
)
"""The order ``fleet plan`` and friends have always named a file's first problem in; other keys come after."""


def _rank(problem: ConfigError) -> int:
    key = (problem.key or "").removeprefix(f"{NAMESPACE}:").split("[")[0]
    block, _, sub = key.partition(".")
    unknown_block = problem.detail.startswith("unknown key") and block not in KNOWN_KEYS
    if unknown_block or "pulumi config set --secret" in problem.detail:
        return -1
    for candidate in (key, f"{block}.*" if sub and problem.detail.startswith("unknown key") else None):
        if candidate in _ORDER:
            return _ORDER.index(candidate)
    return len(_ORDER)


def read_fleet(raw: Mapping[str, Any], *, file: str) -> tuple[FleetModel | None, list[ConfigError]]:
    """Every ``fleet:`` key (without the prefix): the model read from what is valid, and every problem."""
    model, problems = read_all(FleetModel, raw, file=file)
    return model, sorted(problems, key=_rank)


def rollout_policy(model: FleetModel) -> RolloutPolicy:
    a = model.analysis
    analysis = AnalysisPolicy(
        success_rate=a.success_rate,
        p99_latency_ms=a.p99_latency_ms,
        failed_checks=a.failed_checks,
        window_s=a.window,
        min_requests=a.min_requests,
        max_extensions=a.max_extensions,
    )
    if model.rollout.step_bake is not None:
        analysis = replace(analysis, window_s=model.rollout.step_bake)
    health = model.health or Health.model_validate({})
    return RolloutPolicy(
        steps=model.rollout.steps,
        health_timeout_s=model.rollout.health_timeout,
        analysis=analysis,
        health=HealthPolicy(regression_grace_s=health.regression_grace, parity=health.parity),
        handoff_at=model.singletons.handoff_at,
    )


def teardown_policy(model: FleetModel) -> TeardownPolicy:
    return TeardownPolicy(bake_s=model.teardown.bake, confirm=model.teardown.confirm)


def health_settings(model: FleetModel | HealthModel) -> HealthSettings:
    """What the Flux health gate judges, from ``fleet:health`` and ``fleet:tenants``."""
    from fleet.domain.health import HealthSettings, TenantSpec

    health = model.health or Health.model_validate({})
    return HealthSettings(
        namespaces=health.namespaces,
        kustomizations=health.kustomizations,
        helm_releases=health.helm_releases,
        tenants=tuple(
            TenantSpec(name, t.namespaces, t.kustomizations, t.helm_releases, t.roots, t.selector)
            for name, t in model.tenants.items()
        ),
        flux_namespace=health.flux_namespace,
    )


def health_settings_from_config(raw: Mapping[str, Any], *, file: str) -> HealthSettings:
    """``fleet:health`` and ``fleet:tenants`` alone (keys with or without ``fleet:``); raises the first problem."""
    blocks = {key: raw.get(f"{NAMESPACE}:{key}", raw.get(key)) for key in ("health", "tenants")}
    model, problems = read_all(HealthModel, {k: v for k, v in blocks.items() if v is not None}, file=file)
    if problems:
        raise problems[0]
    assert model is not None
    return health_settings(model)

