"""Environments are Pulumi stacks: one file serves ``pulumi up`` and the CLI.

Static settings of an environment live in ``stacks/Pulumi.<env>.yaml`` under
the ``fleet:`` namespace, next to whatever provider settings (``aws:region``)
the stack needs. Dynamic state (which slot is active, weights, cutover
progress) is never kept here: it lives in the state store, so that Git holds
intent and the store holds facts.

Every problem is reported with its file and key (``stacks/Pulumi.local.yaml:
fleet:rollout.steps``) so that ``fleet validate`` can list them all and every
other command can fail with one line and exit 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.domain.model import RolloutPolicy, TeardownPolicy, Version
from fleet.errors import ConfigError
from fleet.settings.durations import parse_duration, parse_steps
from fleet.settings.hints import unknown_key_hint

if TYPE_CHECKING:
    from fleet.settings.model import FleetModel

__all__ = [
    "EnvironmentConfig",
    "find_project",
    "list_environments",
    "load_environment",
    "parse_duration",
    "parse_steps",
    "stack_dir",
    "unknown_key_hint",
    "validate_environment",
]

NAMESPACE = "fleet"
_ENV_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    file: str
    version: Version
    rollout: RolloutPolicy
    teardown: TeardownPolicy
    hostnames: tuple[str, ...]
    traffic: Mapping[str, Any] = field(default_factory=dict)
    analysis: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)
    """Every ``fleet:`` key without its prefix, secrets left encrypted."""
    state: str | None = None

    def key(self, path: str) -> str:
        return f"{NAMESPACE}:{path}"


def find_project(start: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding ``Pulumi.yaml``: FLEET_PROJECT, else the working directory or a parent."""
    override = os.environ.get("FLEET_PROJECT")
    if override:
        return Path(override)
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return here


def stack_dir(project: Path) -> Path:
    return project / "stacks"


def list_environments(project: Path) -> list[str]:
    folder = stack_dir(project)
    if not folder.is_dir():
        return []
    names = (p.name[len("Pulumi.") : -len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))
    return sorted(names)


def load_environment(project: Path, env: str) -> EnvironmentConfig:
    """The environment's configuration; raises the first problem as ConfigError."""
    config, problems = _load(project, env)
    if problems:
        raise problems[0]
    assert config is not None
    return config


def validate_environment(
    project: Path, env: str, extra: Callable[[EnvironmentConfig], list[ConfigError]] | None = None
) -> list[ConfigError]:
    """Every problem with ``env``'s configuration (empty when it is valid).

    ``extra`` (the adapters' own checks) runs even when the file has problems
    already, on a best-effort reading, so that one pass lists them all; a
    problem it reports for a key already reported (or a key inside it) is
    left out rather than said twice in other words.
    """
    from fleet.settings.errors import overlaps

    config, problems = _load(project, env)
    if config is not None and extra is not None:
        said = [err.key for err in problems if err.key]
        problems.extend(err for err in extra(config) if not (err.key and overlaps(err.key, said)))
    return problems


def _read_yaml(path: Path) -> object:
    import yaml

    from fleet import fastyaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read ({err.strerror})", file=str(path)) from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", file=str(path)) from err
    try:
        # libyaml reads a fleet of 500 stacks in a fraction of the pure-Python time; its error messages are
        # terser, so a file it refuses is read again by the pure-Python loader for the message.
        return fastyaml.safe_load(text)
    except yaml.YAMLError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or "malformed YAML"
        raise ConfigError(f"{where}{problem}", file=str(path)) from err


def _load(project: Path, env: str) -> tuple[EnvironmentConfig | None, list[ConfigError]]:
    """The configuration read from what is valid (None when nothing usable is), and every problem."""
    from fleet.settings.read import read_fleet

    folder = stack_dir(project)
    rel = f"stacks/Pulumi.{env}.yaml"
    if not _ENV_NAME.match(env):
        return None, [ConfigError(f"{env!r} is not an environment name (lowercase letters, digits, '-')")]
    path = folder / f"Pulumi.{env}.yaml"
    if not path.is_file():
        known = ", ".join(list_environments(project)) or "none"
        return None, [ConfigError(f"unknown environment {env!r} (known: {known})", file=rel)]
    try:
        document = _read_yaml(path)
    except ConfigError as err:
        return None, [ConfigError(err.detail, file=rel)]
    if document is None:
        document = {}
    if not isinstance(document, dict):
        return None, [ConfigError("expected a mapping with a 'config:' key", file=rel)]
    top = document.get("config", {}) or {}
    if not isinstance(top, dict):
        return None, [ConfigError("expected a mapping", file=rel, key="config")]

    problems: list[ConfigError] = []
    raw: dict[str, Any] = {}
    for full_key, value in top.items():
        if not isinstance(full_key, str):
            problems.append(ConfigError("config keys must be strings", file=rel, key=str(full_key)))
            continue
        namespace, _, key = full_key.partition(":")
        if namespace == NAMESPACE:
            raw[key] = value
    model, found = read_fleet(raw, file=rel)
    problems.extend(found)
    if model is None:
        return None, problems
    problems.extend(_notify_problems(model, rel))
    return _environment(env, rel, model, raw), problems


def _notify_problems(model: FleetModel, file: str) -> list[ConfigError]:
    """What a ``urlEnv`` of ``fleet:notifications`` or ``fleet:hooks`` holds here (the model checked the rest)."""
    from fleet.notify_settings import resolve

    return resolve(model.notifications, model.hooks, file=file)[1]


def _environment(env: str, file: str, model: FleetModel, raw: dict[str, Any]) -> EnvironmentConfig:
    from fleet.settings.read import rollout_policy, teardown_policy

    analysis = raw.get("analysis")
    return EnvironmentConfig(
        name=env,
        file=file,
        version=model.cluster.version,
        rollout=rollout_policy(model),
        teardown=teardown_policy(model),
        hostnames=model.hostnames,
        traffic=model.traffic,
        analysis=analysis if isinstance(analysis, dict) else {},
        raw=raw,
        state=model.state,
    )
