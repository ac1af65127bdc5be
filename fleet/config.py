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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fleet.domain.model import (
    AnalysisPolicy,
    HealthPolicy,
    ParityMode,
    RolloutPolicy,
    TeardownPolicy,
    Version,
    validate_steps,
)
from fleet.errors import ConfigError

NAMESPACE = "fleet"
KNOWN_KEYS = frozenset(
    {
        "cluster",
        "gitops",
        "gitToken",
        "sopsAgeKey",
        "hostnames",
        "dns",
        "externalDns",
        "traffic",
        "analysis",
        "rollout",
        "teardown",
        "tenants",
        "health",
        "state",
        "upgrade",
        "notifications",
        "hooks",
        "singletons",
    }
)
SECRET_KEYS = frozenset({"gitToken", "sopsAgeKey"})
_ENV_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


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


class _Problems:
    """Collects ConfigErrors so that ``fleet validate`` can show every one."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    @contextmanager
    def section(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as err:
            self.errors.append(err)


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
    config, problems = _load(project, env, partial=extra is not None)
    if config is not None and extra is not None:
        said = [err.key for err in problems if err.key]
        problems.extend(err for err in extra(config) if not (err.key and _overlaps(err.key, said)))
    return problems


def _overlaps(key: str, keys: list[str]) -> bool:
    """``fleet:hostnames`` overlaps ``fleet:hostnames[1]`` and ``fleet:cluster.version`` overlaps ``fleet:cluster``."""
    return any(
        key == other or key.startswith((other + ".", other + "[")) or other.startswith((key + ".", key + "["))
        for other in keys
    )


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


def _load(project: Path, env: str, *, partial: bool = False) -> tuple[EnvironmentConfig | None, list[ConfigError]]:
    """The configuration and its problems; with ``partial``, a best-effort configuration despite problems."""
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

    problems = _Problems()
    raw: dict[str, Any] = {}
    for full_key, value in top.items():
        if not isinstance(full_key, str):
            problems.errors.append(ConfigError("config keys must be strings", file=rel, key=str(full_key)))
            continue
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key not in KNOWN_KEYS:
            hint = _closest(key)
            problems.errors.append(ConfigError(f"unknown key{hint}", file=rel, key=full_key))
            continue
        if key in SECRET_KEYS and not (isinstance(value, dict) and set(value) == {"secure"}):
            problems.errors.append(
                ConfigError(
                    "must be a Pulumi secret (pulumi config set --secret), never plain text",
                    file=rel,
                    key=full_key,
                )
            )
            continue
        raw[key] = value

    p = _Parser(rel, problems)
    version = p.cluster_version(raw.get("cluster"))
    rollout = p.rollout(raw.get("rollout"), raw.get("analysis"), raw.get("health"), raw.get("singletons"))
    teardown = p.teardown(raw.get("teardown"))
    hostnames = p.hostnames(raw.get("hostnames"))
    traffic = p.mapping(raw.get("traffic"), "traffic", required=True)
    analysis = p.mapping(raw.get("analysis"), "analysis")
    state = p.optional_str(raw.get("state"), "state")
    problems.errors.extend(_notify_problems(raw, rel))
    if rollout is None or (problems.errors and not partial):
        return None, problems.errors
    if version is None and not partial:
        return None, problems.errors
    config = EnvironmentConfig(
        name=env,
        file=rel,
        version=version or Version(0, 0),
        rollout=rollout,
        teardown=teardown,
        hostnames=hostnames,
        traffic=traffic,
        analysis=analysis,
        raw=raw,
        state=state,
    )
    return config, problems.errors


def _notify_problems(raw: Mapping[str, Any], file: str) -> list[ConfigError]:
    from fleet.notify_settings import notify_problems

    return notify_problems(raw, file=file)


def _closest(key: str) -> str:
    return unknown_key_hint(key, KNOWN_KEYS, prefix=f"{NAMESPACE}:")


def unknown_key_hint(key: str, known: Iterable[str], *, prefix: str = "") -> str:
    """`` (did you mean fleet:rollout?; known: ...)``: the closest valid key, then every valid key."""
    import difflib

    options = sorted(known)
    match = difflib.get_close_matches(key, options, n=1)
    guess = f"did you mean {prefix}{match[0]}?; " if match else ""
    return f" ({guess}known: {', '.join(options)})"


def parse_duration(value: object) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h30m`` or ``250ms``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 5m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration (expected e.g. 90s, 5m, 1h30m)")
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        seconds = sum(float(n) * scale[u] for n, u in parts)
    else:
        raise ValueError("expected a duration like 90s, 5m or 1h")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def parse_steps(text: str) -> tuple[int, ...]:
    """``10,50,100`` from the command line."""
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise ValueError(f"{text!r} is not a comma-separated list of percentages") from err
    problem = validate_steps(steps)
    if problem:
        raise ValueError(problem)
    return steps


class _Parser:
    def __init__(self, file: str, problems: _Problems) -> None:
        self.file = file
        self.problems = problems

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, key=f"{NAMESPACE}:{key}")

    def fail(self, key: str, message: str) -> None:
        self.problems.errors.append(self.error(key, message))

    def mapping(self, value: object, key: str, *, required: bool = False) -> dict[str, Any]:
        if value is None:
            if required:
                self.fail(key, "missing (required)")
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping, found {type(value).__name__}")
            return {}
        return value

    def optional_str(self, value: object, key: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.fail(key, "expected a non-empty string")
            return None
        return value

    def cluster_version(self, value: object) -> Version | None:
        section = self.mapping(value, "cluster", required=True)
        if not section:
            return None
        if "version" not in section:
            self.fail("cluster.version", "missing (required): the version of the first active slot")
            return None
        if isinstance(section["version"], float):
            value = section["version"]
            self.fail("cluster.version", f"write the version in quotes: YAML reads it as the number {value!r}")
            return None
        try:
            return Version.parse(section["version"])
        except ValueError as err:
            self.fail("cluster.version", str(err))
            return None

    def duration(self, section: Mapping[str, Any], name: str, key: str, default: float) -> float:
        if name not in section:
            return default
        try:
            return parse_duration(section[name])
        except ValueError as err:
            self.fail(key, str(err))
            return default

    def number(self, section: Mapping[str, Any], name: str, key: str, default: float, lo: float, hi: float) -> float:
        if name not in section:
            return default
        value = section[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"expected a number, found {type(value).__name__}")
            return default
        if not lo <= value <= hi:
            self.fail(key, f"{value} is outside {lo:g}..{hi:g}")
            return default
        return float(value)

    def whole(self, section: Mapping[str, Any], name: str, key: str, default: int, lo: int, hi: int) -> int:
        if name not in section:
            return default
        value = section[name]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number, found {value!r}")
            return default
        if not lo <= value <= hi:
            self.fail(key, f"{value} is outside {lo}..{hi}")
            return default
        return value

    def unknown(self, section: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
        for name in section:
            if name not in allowed:
                hint = unknown_key_hint(str(name), allowed, prefix=f"{NAMESPACE}:{prefix}.")
                self.fail(f"{prefix}.{name}", f"unknown key{hint}")

    def rollout(
        self, value: object, analysis_value: object, health_value: object = None, singletons_value: object = None
    ) -> RolloutPolicy | None:
        section = self.mapping(value, "rollout")
        self.unknown(section, {"steps", "stepBake", "healthTimeout"}, "rollout")
        default = RolloutPolicy()
        steps = default.steps
        if "steps" in section:
            raw = section["steps"]
            if not isinstance(raw, list):
                self.fail("rollout.steps", "expected a list of percentages such as [10, 25, 50, 100]")
            else:
                problem = validate_steps(tuple(raw))
                if problem:
                    self.fail("rollout.steps", f"{raw}: {problem}")
                else:
                    steps = tuple(raw)
        analysis = self.analysis(analysis_value)
        if "stepBake" in section:
            window = self.duration(section, "stepBake", "rollout.stepBake", analysis.window_s)
            if window <= 0:
                self.fail("rollout.stepBake", "must be longer than 0: each step is analysed for this long")
            elif isinstance(analysis_value, Mapping) and "window" in analysis_value and window != analysis.window_s:
                self.fail(
                    "rollout.stepBake",
                    f"{section['stepBake']!r} differs from fleet:analysis.window {analysis_value['window']!r}: "
                    "both set how long each step is analysed; keep one",
                )
            analysis = replace(analysis, window_s=window)
        return RolloutPolicy(
            steps=steps,
            health_timeout_s=self.duration(section, "healthTimeout", "rollout.healthTimeout", default.health_timeout_s),
            analysis=analysis,
            health=self.health(health_value),
            handoff_at=self.handoff_at(singletons_value),
        )

    def handoff_at(self, value: object) -> int:
        """``fleet:singletons.handoffAt``: the new slot's weight (%) at which singletons move (default 100)."""
        section = self.mapping(value, "singletons")
        self.unknown(section, {"handoffAt"}, "singletons")
        raw = section.get("handoffAt", 100)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 100:
            self.fail("singletons.handoffAt", f"{raw!r}: expected a whole percentage from 1 to 100")
            return 100
        return raw

    def health(self, value: object) -> HealthPolicy:
        """The judgement settings of ``fleet:health``; its scope and tenants are read by the health gate."""
        if isinstance(value, str):
            import json

            try:
                value = json.loads(value)
            except ValueError:
                value = None  # reported with its key by fleet.domain.health.health_settings_from_config
        section = self.mapping(value, "health") if isinstance(value, dict) or value is None else {}
        d = HealthPolicy()
        grace = self.duration(section, "regressionGrace", "health.regressionGrace", d.regression_grace_s)
        parity = section.get("parity", d.parity.value)
        try:
            mode = ParityMode(parity)
        except ValueError:
            self.fail("health.parity", f"{parity!r} is not one of strict, warn")
            mode = d.parity
        return HealthPolicy(regression_grace_s=grace, parity=mode)

    def analysis(self, value: object) -> AnalysisPolicy:
        section = self.mapping(value, "analysis")
        d = AnalysisPolicy()
        return AnalysisPolicy(
            success_rate=self.number(section, "successRate", "analysis.successRate", d.success_rate, 0, 100),
            p99_latency_ms=self.number(
                section, "p99LatencyMs", "analysis.p99LatencyMs", d.p99_latency_ms, 1, 3_600_000
            ),
            failed_checks=self.whole(section, "failedChecks", "analysis.failedChecks", d.failed_checks, 1, 100),
            window_s=self.window(section, d.window_s),
            min_requests=self.whole(section, "minRequests", "analysis.minRequests", d.min_requests, 1, 10**9),
            max_extensions=self.whole(section, "maxExtensions", "analysis.maxExtensions", d.max_extensions, 0, 1000),
        )

    def window(self, section: Mapping[str, Any], default: float) -> float:
        window = self.duration(section, "window", "analysis.window", default)
        if window <= 0:
            self.fail("analysis.window", "must be longer than 0: each step is analysed for this long")
            return default
        return window

    def teardown(self, value: object) -> TeardownPolicy:
        section = self.mapping(value, "teardown")
        self.unknown(section, {"bake", "confirm"}, "teardown")
        d = TeardownPolicy()
        confirm = section.get("confirm", d.confirm)
        if not isinstance(confirm, bool):
            self.fail("teardown.confirm", f"expected true or false, found {confirm!r}")
            confirm = d.confirm
        return TeardownPolicy(bake_s=self.duration(section, "bake", "teardown.bake", d.bake_s), confirm=confirm)

    def hostnames(self, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
            self.fail("hostnames", "expected a list of hostnames")
            return ()
        seen: set[str] = set()
        for index, name in enumerate(value):
            if not _HOSTNAME.match(name.lower()):
                self.fail(f"hostnames[{index}]", f"{name!r} is not a hostname")
            if name.lower() in seen:
                self.fail(f"hostnames[{index}]", f"{name!r} is listed twice")
            seen.add(name.lower())
        return tuple(value)
