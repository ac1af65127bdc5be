"""The sections a cutover runs by: ``fleet:rollout``, ``analysis``, ``teardown``, ``health`` and ``tenants``.

``fleet:analysis`` also carries the analysis source's own keys (``source``,
``url``, ``queries``...); those belong to the adapter that reads them and are
checked there, so this model keeps them as they are and types only the
judgement settings every source shares.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from fleet.domain.model import AnalysisPolicy, HealthPolicy, ParityMode, RolloutPolicy, TeardownPolicy
from fleet.settings.infra import Section
from fleet.settings.tenants import ContactBlock, TenantContactSection, TenantTrafficSection, TrafficBlock
from fleet.settings.types import (
    Duration,
    Flag,
    Names,
    Number,
    Refs,
    Steps,
    Whole,
    in_range,
    json_text,
    labelled,
    problem,
)

_ROLLOUT = RolloutPolicy()
_ANALYSIS = AnalysisPolicy()
_TEARDOWN = TeardownPolicy()
_HEALTH = HealthPolicy()


def _whole_range(low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise problem(f"{value} is outside {low}..{high}")
        return value

    return AfterValidator(check)


def _longer_than_zero(value: float) -> float:
    if value <= 0:
        raise problem("must be longer than 0: each step is analysed for this long")
    return value


Window = Annotated[Duration, AfterValidator(_longer_than_zero)]


class Rollout(Section):
    """``fleet:rollout``: the weight schedule and how long a new slot may take to become healthy."""

    steps: Steps = _ROLLOUT.steps
    step_bake: Window | None = Field(None, alias="stepBake")
    """How long each step is analysed; the same as ``fleet:analysis.window`` (set one of the two)."""
    health_timeout: Duration = Field(_ROLLOUT.health_timeout_s, alias="healthTimeout")


class Analysis(Section):
    """``fleet:analysis``: the judgement every analysis source shares; the source's own keys pass through."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, defer_build=True)

    success_rate: Annotated[Number, AfterValidator(in_range(0, 100))] = Field(
        _ANALYSIS.success_rate, alias="successRate"
    )
    p99_latency_ms: Annotated[Number, AfterValidator(in_range(1, 3_600_000))] = Field(
        _ANALYSIS.p99_latency_ms, alias="p99LatencyMs"
    )
    failed_checks: Annotated[Whole, _whole_range(1, 100)] = Field(_ANALYSIS.failed_checks, alias="failedChecks")
    window: Window = _ANALYSIS.window_s
    min_requests: Annotated[Whole, _whole_range(1, 10**9)] = Field(_ANALYSIS.min_requests, alias="minRequests")
    max_extensions: Annotated[Whole, _whole_range(0, 1000)] = Field(_ANALYSIS.max_extensions, alias="maxExtensions")

    def adapter_keys(self) -> dict[str, Any]:
        """The keys the analysis source reads itself (``source``, ``url``...)."""
        return dict(self.model_extra or {})


@labelled("whole percentage 1-100")
def _handoff(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise problem(f"{value!r}: expected a whole percentage from 1 to 100")
    return value


class Singletons(Section):
    """``fleet:singletons``: when CronJobs and ``fleet.io/singleton`` workloads move to the new slot."""

    handoff_at: Annotated[int, BeforeValidator(_handoff)] = Field(100, alias="handoffAt")


class Teardown(Section):
    """``fleet:teardown``: how long the old slot stays after the last step, and whether to ask first."""

    bake: Duration = _TEARDOWN.bake_s
    confirm: Flag = _TEARDOWN.confirm


@labelled("`strict` \\| `warn`")
def _parity(value: object) -> ParityMode:
    if isinstance(value, ParityMode):
        return value
    if not isinstance(value, str) or value not in {mode.value for mode in ParityMode}:
        raise problem(f"{value!r} is not one of strict, warn")
    return ParityMode(value)


@labelled("string")
def _namespace(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise problem("must be a namespace name")
    return value


class Health(Section):
    """``fleet:health``: which Flux objects the gate judges, and how it judges a live slot."""

    unknown_at_block: ClassVar[bool] = True

    namespaces: Names | None = None
    kustomizations: Refs | None = None
    helm_releases: Refs | None = Field(None, alias="helmReleases")
    flux_namespace: Annotated[str, BeforeValidator(_namespace)] = Field(
        "flux-system", alias="fluxNamespace"
    )
    regression_grace: Duration = Field(_HEALTH.regression_grace_s, alias="regressionGrace")
    """How long a Flux object may stay failing on the live slot before it counts as a regression."""
    parity: Annotated[ParityMode, BeforeValidator(_parity)] = _HEALTH.parity


@labelled("mapping of labels")
def _selector(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise problem(f"expected a mapping, found {type(value).__name__}")
    if not all(isinstance(v, str) for v in value.values()):
        raise problem("must map label names to values")
    return tuple(sorted((str(k), v) for k, v in value.items()))


class Tenant(Section):
    """``fleet:tenants.<name>``: what one tenant owns: whole namespaces and/or named Flux objects."""

    unknown_at_block: ClassVar[bool] = True

    namespaces: Names = frozenset()
    kustomizations: Refs = frozenset()
    helm_releases: Refs = Field(frozenset(), alias="helmReleases")
    roots: Refs = frozenset()
    """Root Kustomizations: they and every Flux object they create are the tenant's."""
    selector: Annotated[tuple[tuple[str, str], ...], BeforeValidator(_selector)] = ()
    """Labels a Flux object carries (all of them) to be the tenant's."""
    traffic: TrafficBlock = Field(default_factory=lambda: TenantTrafficSection.model_validate({}))
    """How the tenant's requests are told apart, so that its share is judged on its own."""
    contact: ContactBlock = Field(default_factory=lambda: TenantContactSection.model_validate({}))
    """Where the tenant's own messages go."""

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, value: object) -> object:
        if not isinstance(value, dict):
            raise problem("must be a mapping with namespaces and/or kustomizations")
        return value

    @model_validator(mode="after")
    def _owns_something(self) -> Tenant:
        if not (self.namespaces or self.kustomizations or self.helm_releases or self.roots or self.selector):
            raise problem("names no namespaces, kustomizations, helmReleases, roots or selector")
        return self


def _tenants(value: object) -> object:
    value = json_text(value)
    if isinstance(value, dict) and any(not isinstance(name, str) or not name for name in value):
        raise problem("tenant names must be non-empty strings")
    return value


Tenants = Annotated[dict[str, Tenant], BeforeValidator(_tenants)]
"""``fleet:tenants``: tenant name to what it owns (a mapping, or JSON text of one)."""
HealthBlock = Annotated[Health, BeforeValidator(json_text)]
"""``fleet:health`` as a mapping or as JSON text."""
