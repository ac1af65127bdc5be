"""Reading an adapter's block of a Pulumi stack file, with errors that name the file and the key.

Every traffic and analysis adapter validates its own keys in ``from_settings``
so that a typo is reported before a cutover starts, as
``stacks/Pulumi.prod.yaml:fleet:traffic.socket: ...``, not as a failure half
way through moving traffic. This small reader keeps those messages uniform.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from fleet.config import parse_duration
from fleet.errors import ConfigError

_COLLECTED: ContextVar[list[ConfigError] | None] = ContextVar("fleet_settings_collected", default=None)


@contextmanager
def collecting_unknown_keys() -> Iterator[list[ConfigError]]:
    """Within this block an unknown key is noted, not raised, so ``fleet validate`` reads on and finds the rest."""
    found: list[ConfigError] = []
    token = _COLLECTED.set(found)
    try:
        yield found
    finally:
        _COLLECTED.reset(token)


def _guess(name: str, options: list[str]) -> str:
    import difflib

    match = difflib.get_close_matches(name, options, n=1)
    return f"{name} (did you mean {match[0]}?)" if match else name


class SettingsReader:
    """Typed access to one ``fleet:<block>`` mapping; unknown keys are errors."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        file: str,
        block: str,
        known: Iterable[str],
        ignored: Iterable[str] = (),
    ) -> None:
        if not isinstance(settings, Mapping):
            raise ConfigError("must be a mapping", file=file, key=block)
        self.settings = settings
        self.file = file
        self.block = block
        allowed = set(known) | set(ignored)
        unknown = sorted(str(k) for k in settings if k not in allowed)
        if unknown:
            options = sorted(known)
            guesses = [_guess(name, options) for name in unknown]
            problem = ConfigError(
                f"unknown key(s) {', '.join(guesses)}; known: {', '.join(options)}", file=file, key=block
            )
            collector = _COLLECTED.get()
            if collector is None:
                raise problem
            collector.append(problem)

    def key(self, name: str) -> str:
        return f"{self.block}.{name}"

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, key=self.key(name))

    def has(self, name: str) -> bool:
        return self.settings.get(name) is not None

    def string(self, name: str, default: str | None = None) -> str:
        value = self.settings.get(name, default)
        if value is None:
            raise self.error(name, "is required")
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def optional_string(self, name: str) -> str | None:
        return self.string(name) if self.has(name) else None

    def integer(
        self, name: str, default: int | None = None, *, low: int | None = None, high: int | None = None
    ) -> int:
        value = self.settings.get(name, default)
        if value is None:
            raise self.error(name, "is required")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be a whole number, not {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(name, f"{value} is outside {low}..{high}")
        return value

    def number(self, name: str, default: float, *, low: float = 0.0, high: float | None = None) -> float:
        value = self.settings.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(name, f"must be a number, not {value!r}")
        if value < low or (high is not None and value > high):
            raise self.error(name, f"{value} is outside {low}..{high if high is not None else 'inf'}")
        return float(value)

    def duration(self, name: str, default: float, *, low: float = 0.0, high: float | None = None) -> float:
        raw = self.settings.get(name)
        if raw is None:
            return default
        try:
            seconds = parse_duration(raw)
        except ValueError as err:
            raise self.error(name, str(err)) from None
        if seconds < low or (high is not None and seconds > high):
            raise self.error(name, f"{raw!r} is outside {low:g}s..{high if high is not None else 'inf'}s")
        return seconds

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        options = tuple(choices)
        value = self.string(name, default)
        if value not in options:
            raise self.error(name, f"{value!r} is not one of {', '.join(options)}")
        return value

    def string_list(self, name: str) -> tuple[str, ...]:
        value = self.settings.get(name)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.error(name, "must be a non-empty list of strings")
        if any(not isinstance(item, str) or not item.strip() for item in value):
            raise self.error(name, f"must be a list of non-empty strings, not {value!r}")
        return tuple(item.strip() for item in value)

    def mapping(self, name: str, default: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        value = self.settings.get(name, default)
        if value is None:
            raise self.error(name, "is required")
        if not isinstance(value, Mapping):
            raise self.error(name, f"must be a mapping, not {value!r}")
        return value

    def slot_names(self, name: str) -> dict[str, str]:
        """A ``{blue: ..., green: ...}`` mapping of strings, defaulting each slot to its own name."""
        raw = self.mapping(name, {})
        unknown = sorted(str(k) for k in raw if k not in ("blue", "green"))
        if unknown:
            raise self.error(name, f"unknown slot(s) {', '.join(unknown)}; slots are blue and green")
        result = {}
        for slot in ("blue", "green"):
            value = raw.get(slot, slot)
            if not isinstance(value, str) or not value.strip():
                raise self.error(f"{name}.{slot}", f"must be a non-empty string, not {value!r}")
            result[slot] = value.strip()
        if result["blue"] == result["green"]:
            raise self.error(name, f"blue and green must differ (both are {result['blue']!r})")
        return result
