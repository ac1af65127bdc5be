"""``fleet:notifications`` and ``fleet:hooks``: where cutover news goes, and the hooks and gates of each step.

Read from the environment's ``fleet:`` keys (``EnvironmentConfig.raw``) and
checked by ``fleet validate`` like every other key, with file and key in
each problem. A webhook URL often is a credential (a Slack incoming
webhook is one): ``urlEnv`` names an environment variable that holds it,
so the stack file need not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.domain.gates import GatePolicy
from fleet.domain.notices import KINDS
from fleet.errors import ConfigError
from fleet.ports import Target

TARGET_KINDS = ("slack", "webhook")
_UNSET = "the environment variable"


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
    """The settings of ``raw`` (the ``fleet:`` keys); the first problem as ConfigError."""
    problems = notify_problems(raw, file=file, env=env)
    if problems:
        raise problems[0]
    return _read(raw, file, env if env is not None else os.environ, [])


def notify_problems(raw: Mapping[str, Any], *, file: str, env: Mapping[str, str] | None = None) -> list[ConfigError]:
    errors: list[ConfigError] = []
    _read(raw, file, env if env is not None else os.environ, errors)
    return errors


def _read(raw: Mapping[str, Any], file: str, env: Mapping[str, str], errors: list[ConfigError]) -> NotifySettings:
    skipped: list[str] = []

    def fail(key: str, message: str) -> None:
        if message.startswith(_UNSET):
            skipped.append(f"fleet:{key}: {message}")
            return
        errors.append(ConfigError(message, file=file, key=f"fleet:{key}"))

    notes = _mapping(raw.get("notifications"), "notifications", fail)
    hooks = _mapping(raw.get("hooks"), "hooks", fail)
    _unknown(notes, {"targets", "timeout", "attempts", "budget"}, "notifications", fail)
    _unknown(hooks, {"smoke", "loadTest", "approval"}, "hooks", fail)
    targets: list[Target] = []
    for i, item in enumerate(_list(notes.get("targets"), "notifications.targets", fail)):
        key = f"notifications.targets[{i}]"
        t = _mapping(item, key, fail)
        _unknown(t, {"kind", "url", "urlEnv", "name", "events", "tenant"}, key, fail)
        kind = t.get("kind", "webhook")
        if kind not in TARGET_KINDS:
            fail(f"{key}.kind", f"{kind!r} is not one of {', '.join(TARGET_KINDS)}")
        events = t.get("events", [])
        if not isinstance(events, list) or any(e not in KINDS for e in events):
            fail(f"{key}.events", f"expected a list of {', '.join(KINDS)}")
            events = []
        url = _url(t, key, env, fail)
        if url is not None:
            targets.append(Target(kind=str(kind), url=url, name=str(t.get("name", "")),
                                  events=frozenset(events), tenant=_tenant(t, key, fail)))
    settings = NotifySettings(
        targets=tuple(targets),
        timeout_s=_seconds(notes.get("timeout", 5.0), "notifications.timeout", fail, 5.0),
        attempts=_count(notes.get("attempts", 3), "notifications.attempts", fail, 3),
        budget_s=_seconds(notes.get("budget", 30.0), "notifications.budget", fail, 30.0),
        smoke=_hooks(hooks.get("smoke"), "hooks.smoke", env, fail),
        load_tests=_hooks(hooks.get("loadTest"), "hooks.loadTest", env, fail),
        gates=GatePolicy(),
    )
    approval = _mapping(hooks.get("approval"), "hooks.approval", fail)
    _unknown(approval, {"steps"}, "hooks.approval", fail)
    steps = approval.get("steps", [])
    if not isinstance(steps, list) or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in steps):
        fail("hooks.approval.steps", "expected a list of step numbers (1 is the first weight step)")
        steps = []
    gates = GatePolicy(smoke=bool(settings.smoke), approve=tuple(sorted(set(steps))))
    return replace(settings, gates=gates, skipped=tuple(skipped))


def _hooks(value: object, key: str, env: Mapping[str, str], fail: Any) -> tuple[Hook, ...]:
    out: list[Hook] = []
    for i, item in enumerate(_list(value, key, fail)):
        k = f"{key}[{i}]"
        h = _mapping(item, k, fail)
        _unknown(h, {"name", "url", "urlEnv", "tenant", "timeout"}, k, fail)
        url = _url(h, k, env, fail)
        if url is not None:
            out.append(Hook(name=str(h.get("name", f"hook {i + 1}")), url=url, tenant=_tenant(h, k, fail),
                            timeout_s=_seconds(h.get("timeout", 10.0), f"{k}.timeout", fail, 10.0)))
    return tuple(out)


def _url(item: Mapping[str, Any], key: str, env: Mapping[str, str], fail: Any) -> str | None:
    if "urlEnv" in item:
        name = item["urlEnv"]
        value = env.get(str(name)) if isinstance(name, str) else None
        if not value:
            fail(f"{key}.urlEnv", f"{_UNSET} {name!r} is not set: left out")
            return None
        url: object = value
    else:
        url = item.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        fail(f"{key}.url", "missing or not an http(s) URL (or name the variable that holds it in urlEnv)")
        return None
    return url


def _tenant(item: Mapping[str, Any], key: str, fail: Any) -> str | None:
    tenant = item.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        fail(f"{key}.tenant", "expected a tenant's name")
        return None
    return tenant


def _mapping(value: object, key: str, fail: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(key, f"expected a mapping, found {type(value).__name__}")
        return {}
    return value


def _list(value: object, key: str, fail: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        fail(key, f"expected a list, found {type(value).__name__}")
        return []
    return value


def _unknown(section: Mapping[str, Any], known: set[str], key: str, fail: Any) -> None:
    for name in section:
        if name not in known:
            fail(f"{key}.{name}", f"unknown key (known: {', '.join(sorted(known))})")


def _seconds(value: object, key: str, fail: Any, default: float) -> float:
    from fleet.config import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as err:
        fail(key, str(err))
        return default
    if seconds <= 0:
        fail(key, "must be more than 0")
        return default
    return seconds


def _count(value: object, key: str, fail: Any, default: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        fail(key, "expected a whole number of at least 1")
        return default
    return value
