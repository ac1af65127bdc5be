"""``fleet:notifications`` and ``fleet:hooks`` as a run uses them: the model's blocks, each ``urlEnv`` resolved.

The model (``fleet.settings.notify``, part of ``FleetModel``) checks the file
like every other key. A webhook URL often is a credential (a Slack incoming
webhook is one), so ``urlEnv`` names an environment variable that holds it;
reading that variable is the one step that depends on where fleet runs, and
it happens here, when the settings are built: an unset variable leaves its
target or hook out (said in ``skipped``, not an error), a value that is not
an http(s) URL is a problem at the item's ``url`` key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleet.domain.gates import GatePolicy
from fleet.errors import ConfigError
from fleet.ports import Target

if TYPE_CHECKING:
    from fleet.settings.notify import Hooks, HookSection, Notifications, NotifyModel, TargetSection

_BLOCKS = ("notifications", "hooks")


@dataclass(frozen=True)
class Hook:
    name: str
    url: str
    tenant: str | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True)
class NotifySettings:
    targets: tuple[Target, ...] = ()
    timeout_s: float = 5.0
    attempts: int = 3
    budget_s: float = 30.0
    smoke: tuple[Hook, ...] = ()
    load_tests: tuple[Hook, ...] = ()
    gates: GatePolicy = field(default_factory=GatePolicy)
    skipped: tuple[str, ...] = ()
    """Targets and hooks left out because the variable their ``urlEnv`` names is not set here."""


def notify_settings(raw: Mapping[str, Any], *, file: str, env: Mapping[str, str] | None = None) -> NotifySettings:
    """The settings of ``raw`` (the ``fleet:`` keys) in ``env`` (default: this process's); the first problem raised."""
    model, problems = _read(raw, file)
    if model is None or problems:
        raise problems[0]
    settings, unusable = resolve(model.notifications, model.hooks, file=file, env=env)
    if unusable:
        raise unusable[0]
    return settings


def notify_problems(raw: Mapping[str, Any], *, file: str, env: Mapping[str, str] | None = None) -> list[ConfigError]:
    """Every problem of the two blocks: the model's, then what a ``urlEnv`` variable holds."""
    model, problems = _read(raw, file)
    if model is not None:
        problems.extend(resolve(model.notifications, model.hooks, file=file, env=env)[1])
    return problems


def _read(raw: Mapping[str, Any], file: str) -> tuple[NotifyModel | None, list[ConfigError]]:
    from fleet.settings.errors import read_all
    from fleet.settings.notify import NotifyModel

    return read_all(NotifyModel, {key: raw[key] for key in _BLOCKS if key in raw}, file=file)


def resolve(
    notifications: Notifications, hooks: Hooks, *, file: str, env: Mapping[str, str] | None = None
) -> tuple[NotifySettings, list[ConfigError]]:
    """The model's blocks with each ``urlEnv`` looked up in ``env``; the values that are no URL, as problems."""
    from fleet.settings.notify import NO_URL, URL_SCHEMES

    variables = os.environ if env is None else env
    skipped: list[str] = []
    problems: list[ConfigError] = []

    def url(item: TargetSection | HookSection, key: str) -> str | None:
        if item.url_env is None:
            return item.url
        value = variables.get(item.url_env)
        if not value:
            skipped.append(f"fleet:{key}.urlEnv: the environment variable {item.url_env!r} is not set: left out")
            return None
        if not value.startswith(URL_SCHEMES):
            problems.append(ConfigError(NO_URL, file=file, key=f"fleet:{key}.url"))
            return None
        return value

    def hooks_of(items: Sequence[HookSection], key: str) -> tuple[Hook, ...]:
        return tuple(
            Hook(name=h.name if h.name is not None else f"hook {i + 1}", url=found, tenant=h.tenant,
                 timeout_s=h.timeout)
            for i, h in enumerate(items) if (found := url(h, f"{key}[{i}]")) is not None
        )

    targets = tuple(
        Target(kind=t.kind, url=found, name=t.name or "", events=t.events, tenant=t.tenant)
        for i, t in enumerate(notifications.targets)
        if (found := url(t, f"notifications.targets[{i}]")) is not None
    )
    smoke = hooks_of(hooks.smoke, "hooks.smoke")
    settings = NotifySettings(
        targets=targets,
        timeout_s=notifications.timeout,
        attempts=notifications.attempts,
        budget_s=notifications.budget,
        smoke=smoke,
        load_tests=hooks_of(hooks.load_test, "hooks.loadTest"),
        gates=GatePolicy(smoke=bool(smoke), approve=hooks.approval.steps),
        skipped=tuple(skipped),
    )
    return settings, problems
