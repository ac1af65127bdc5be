"""``fleet:upgrade``: an environment's version channel, wave and maintenance windows.

```yaml
fleet:upgrade:
  channel: minor              # pinned (default) | patch | minor
  version: "1.30"             # pinned only: the exact version (default fleet:cluster.version)
  wave: staging               # the wave of `fleet upgrade --wave dev,staging,prod` it belongs to
  windows:                    # none: any time
    - {days: [sat, sun], start: "02:00", duration: 4h, zone: Europe/Berlin}
  versions: ["1.30", "1.31"]  # versions offered when the driver cannot say (fallback)
  fluxKubernetes: ["1.29", "1.33"]   # overrides the known range of fleet:gitops.fluxVersion
```

Read apart from :mod:`fleet.config` so that the upgrade's keys live in one place; every
problem names its file and key, like the rest of the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.config import NAMESPACE, EnvironmentConfig, parse_duration, unknown_key_hint
from fleet.domain.model import Version
from fleet.domain.versions import Channel, ChannelPolicy
from fleet.domain.windows import Window
from fleet.errors import ConfigError

_KEYS = frozenset({"channel", "version", "wave", "windows", "versions", "fluxKubernetes"})
_WINDOW_KEYS = frozenset({"days", "start", "duration", "zone"})


@dataclass(frozen=True)
class UpgradeSettings:
    policy: ChannelPolicy = field(default_factory=ChannelPolicy)
    wave: str | None = None
    windows: tuple[Window, ...] = ()
    versions: tuple[Version, ...] = ()
    flux_kubernetes: tuple[Version, Version] | None = None


def upgrade_settings(config: EnvironmentConfig) -> UpgradeSettings:
    """The environment's ``fleet:upgrade``; ConfigError (file and key) for the first problem."""
    problems: list[ConfigError] = []
    settings = _read(config, problems)
    if problems:
        raise problems[0]
    return settings


def upgrade_problems(config: EnvironmentConfig) -> list[ConfigError]:
    found: list[ConfigError] = []
    _read(config, found)
    return found


def _read(config: EnvironmentConfig, problems: list[ConfigError]) -> UpgradeSettings:
    def fail(key: str, message: str) -> None:
        problems.append(ConfigError(message, file=config.file, key=f"{NAMESPACE}:upgrade.{key}"))

    section: Any = config.raw.get("upgrade")
    if section is None:
        return UpgradeSettings()
    if not isinstance(section, Mapping):
        problems.append(ConfigError("expected a mapping", file=config.file, key=f"{NAMESPACE}:upgrade"))
        return UpgradeSettings()
    for name in section:
        if name not in _KEYS:
            fail(str(name), "unknown key" + unknown_key_hint(str(name), _KEYS, prefix=f"{NAMESPACE}:upgrade."))
    channel = Channel.PINNED
    try:
        channel = Channel(section.get("channel", "pinned"))
    except ValueError:
        fail("channel", f"{section.get('channel')!r} is not one of pinned, patch, minor")
    pin = _version(section.get("version"), "version", fail)
    if pin is not None and channel is not Channel.PINNED:
        fail("version", f"only a pinned channel takes a version (this one is {channel})")
    wave = section.get("wave")
    if wave is not None and (not isinstance(wave, str) or not wave or "," in wave):
        fail("wave", "expected a wave name such as staging")
        wave = None
    versions: list[Version] = []
    raw_versions = section.get("versions", [])
    if not isinstance(raw_versions, list):
        fail("versions", 'expected a list of quoted versions such as ["1.30", "1.31"]')
    else:
        for i, value in enumerate(raw_versions):
            found = _version(value, f"versions[{i}]", fail)
            if found is not None:
                versions.append(found)
    flux = section.get("fluxKubernetes")
    flux_range: tuple[Version, Version] | None = None
    if flux is not None:
        if not isinstance(flux, list) or len(flux) != 2:
            fail("fluxKubernetes", 'expected [lowest, highest] such as ["1.29", "1.33"]')
        else:
            low, high = _version(flux[0], "fluxKubernetes[0]", fail), _version(flux[1], "fluxKubernetes[1]", fail)
            if low is not None and high is not None:
                flux_range = (low, high)
    windows = _windows(section.get("windows"), fail)
    return UpgradeSettings(ChannelPolicy(channel, pin), wave, windows, tuple(versions), flux_range)


def _version(value: object, key: str, fail: Any) -> Version | None:
    if value is None:
        return None
    if isinstance(value, float):
        fail(key, f"write the version in quotes: YAML reads it as the number {value!r}")
        return None
    try:
        return Version.parse(value)
    except ValueError as err:
        fail(key, str(err))
        return None


def _windows(value: object, fail: Any) -> tuple[Window, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        fail("windows", "expected a list of {days, start, duration, zone}")
        return ()
    found = []
    for i, item in enumerate(value):
        key = f"windows[{i}]"
        if not isinstance(item, Mapping):
            fail(key, "expected a mapping {days, start, duration, zone}")
            continue
        unknown = [str(k) for k in item if k not in _WINDOW_KEYS]
        missing = sorted(_WINDOW_KEYS - set(item))
        if unknown or missing:
            fail(key, f"unknown keys {unknown}" if unknown else f"missing {', '.join(missing)}")
            continue
        days = item["days"]
        if isinstance(days, str):
            days = [d for d in days.split(",") if d.strip()]
        try:
            duration = parse_duration(item["duration"])
            found.append(Window.parse(list(days), str(item["start"]), duration, str(item["zone"])))
        except (ValueError, TypeError) as err:
            fail(key, str(err))
    return tuple(found)
