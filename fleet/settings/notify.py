"""``fleet:notifications`` and ``fleet:hooks`` as part of the model: where cutover news goes, the gates of each step.

```yaml
fleet:notifications:
  targets:                       # each: kind, url or urlEnv, name, events, tenant
    - {kind: slack, urlEnv: FLEET_SLACK_WEBHOOK, events: [rollback, done]}
  timeout: 5s                    # per attempt
  attempts: 3
  budget: 30s                    # per notification, attempts and waits included
fleet:hooks:
  smoke: [{name: api, url: https://smoke.example/run, timeout: 10s}]
  loadTest: [{name: k6, urlEnv: K6_TRIGGER}]
  approval: {steps: [2]}
```

The model checks the shape only, so it stays a function of the file: a
``urlEnv`` names an environment variable (a webhook URL is often a
credential), and what that variable holds, or that it is unset, is found
when ``fleet.notify_settings`` builds the settings a run uses. Every message
is the one the hand-written reader gave (tests/settings/test_notify.py holds
them side by side).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from fleet.domain.notices import KINDS
from fleet.settings.infra import Section
from fleet.settings.types import Duration, labelled, problem

TARGET_KINDS = ("slack", "webhook")
URL_SCHEMES = ("http://", "https://")
NO_URL = "missing or not an http(s) URL (or name the variable that holds it in urlEnv)"


@labelled("list of mappings")
def _list(value: object) -> object:
    if value is None:
        return []
    if not isinstance(value, list):
        raise problem(f"expected a list, found {type(value).__name__}")
    return value


def _item(value: object) -> object:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise problem(f"expected a mapping, found {type(value).__name__}")
    return value


@labelled("`slack` \\| `webhook`")
def _kind(value: object) -> str:
    if value not in TARGET_KINDS:
        raise problem(f"{value!r} is not one of {', '.join(TARGET_KINDS)}")
    return str(value)


@labelled(f"list of {', '.join(f'`{kind}`' for kind in KINDS)}")
def _events(value: object) -> frozenset[str]:
    if not isinstance(value, list) or any(e not in KINDS for e in value):
        raise problem(f"expected a list of {', '.join(KINDS)}")
    return frozenset(value)


@labelled("URL")
def _url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(URL_SCHEMES):
        raise problem(NO_URL)
    return value


@labelled("variable name")
def _variable(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise problem("expected the name of an environment variable")
    return value


@labelled("tenant name")
def _tenant(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise problem("expected a tenant's name")
    return value


@labelled("string")
def _name(value: object) -> str:
    return str(value)


@labelled("whole number")
def _attempts(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise problem("expected a whole number of at least 1")
    return value


@labelled("list of step numbers (1 is the first)")
def _steps(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in value):
        raise problem("expected a list of step numbers (1 is the first weight step)")
    return tuple(sorted(set(value)))


def _more_than_zero(value: float) -> float:
    if value <= 0:
        raise problem("must be more than 0")
    return value


Seconds = Annotated[Duration, AfterValidator(_more_than_zero)]
Url = Annotated[str | None, BeforeValidator(_url)]
Variable = Annotated[str | None, BeforeValidator(_variable)]
TenantName = Annotated[str | None, BeforeValidator(_tenant)]


class _Addressed(Section):
    """An endpoint: ``url``, or ``urlEnv`` naming the variable that holds it (``urlEnv`` wins when both are set)."""

    @model_validator(mode="before")
    @classmethod
    def _one_address(cls, value: Any) -> Any:
        if isinstance(value, dict) and "urlEnv" in value:
            return {k: v for k, v in value.items() if k != "url"}
        if isinstance(value, dict) and "url" not in value:
            return {**value, "url": None}  # so that the missing URL is reported at its key
        return value


class TargetSection(_Addressed):
    """``fleet:notifications.targets[]`` (keys in the order they are checked)."""

    kind: Annotated[str, BeforeValidator(_kind)] = "webhook"
    events: Annotated[frozenset[str], BeforeValidator(_events)] = frozenset()
    """Empty: every kind but ``step``."""
    url: Url = None
    url_env: Variable = Field(None, alias="urlEnv")
    name: Annotated[str | None, BeforeValidator(_name)] = None
    """Unset: the delivery log names the target by its kind and URL."""
    tenant: TenantName = None


class HookSection(_Addressed):
    """``fleet:hooks.smoke[]`` and ``fleet:hooks.loadTest[]``."""

    url: Url = None
    url_env: Variable = Field(None, alias="urlEnv")
    name: Annotated[str | None, BeforeValidator(_name)] = None
    """Unset: ``hook N`` (N counts from 1 in its list)."""
    tenant: TenantName = None
    timeout: Seconds = 10.0


TargetItem = Annotated[TargetSection, BeforeValidator(_item)]
HookItem = Annotated[HookSection, BeforeValidator(_item)]


class Notifications(Section):
    """``fleet:notifications``."""

    targets: Annotated[tuple[TargetItem, ...], BeforeValidator(_list)] = ()
    timeout: Seconds = 5.0
    attempts: Annotated[int, BeforeValidator(_attempts)] = 3
    budget: Seconds = 30.0


class Approval(Section):
    """``fleet:hooks.approval``."""

    steps: Annotated[tuple[int, ...], BeforeValidator(_steps)] = ()
    """Sorted, each once."""


class Hooks(Section):
    """``fleet:hooks``."""

    smoke: Annotated[tuple[HookItem, ...], BeforeValidator(_list)] = ()
    load_test: Annotated[tuple[HookItem, ...], BeforeValidator(_list)] = Field((), alias="loadTest")
    approval: Annotated[Approval, BeforeValidator(_item)] = Field(default_factory=lambda: Approval.model_validate({}))


NotificationsBlock = Annotated[Notifications, BeforeValidator(_item)]
HooksBlock = Annotated[Hooks, BeforeValidator(_item)]


class NotifyModel(BaseModel):
    """``fleet:notifications`` and ``fleet:hooks`` alone, as a run's notifiers and step gates read them."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    notifications: NotificationsBlock = Field(default_factory=lambda: Notifications.model_validate({}))
    hooks: HooksBlock = Field(default_factory=lambda: Hooks.model_validate({}))
