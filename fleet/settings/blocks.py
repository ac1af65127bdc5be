"""An adapter's own block of the model (``fleet:traffic``, ``fleet:analysis``), read with the same types and words.

A traffic provider or an analysis source declares its keys as a
:class:`Block` next to its code (a new provider brings its block, the core
model does not change) and reads it with :func:`read_block`, so that its
mistakes are reported like every other key's: the file, the ``fleet:`` key,
fleet's words. Unknown keys are reported once for the block, with the closest
valid key; inside :func:`collecting_unknown_keys` they are noted rather than
raised, so ``fleet validate`` reads on and lists the block's other problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, ClassVar, TypeVar

from pydantic import AfterValidator, BeforeValidator, ConfigDict

from fleet.errors import ConfigError
from fleet.settings.errors import read_all
from fleet.settings.infra import Section
from fleet.settings.types import labelled, problem

B = TypeVar("B", bound="Block")
_COLLECTED: ContextVar[list[ConfigError] | None] = ContextVar("fleet_settings_collected", default=None)
SLOTS = ("blue", "green")


class Block(Section):
    """An adapter's keys; ``ignored`` keys (the judgement every analysis source shares) are read elsewhere."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)
    unknown_at_block: ClassVar[bool] = True


@contextmanager
def collecting_unknown_keys() -> Iterator[list[ConfigError]]:
    """Within this block an unknown key is noted, not raised, so ``fleet validate`` reads on and finds the rest."""
    found: list[ConfigError] = []
    token = _COLLECTED.set(found)
    try:
        yield found
    finally:
        _COLLECTED.reset(token)


def read_block(
    model: type[B], settings: object, *, file: str, block: str, ignored: tuple[str, ...] = ()
) -> B:
    """``settings`` (the mapping of ``fleet:<block>``) as ``model``; raises the first problem as ConfigError."""
    if not isinstance(settings, Mapping):
        raise ConfigError("must be a mapping", file=file, key=f"fleet:{block}")
    raw = {k: v for k, v in settings.items() if k not in ignored}
    found, problems = read_all(model, raw, file=file, base=(block,))
    unknown = [p for p in problems if p.key == f"fleet:{block}" and p.detail.startswith("unknown key")]
    collector = _COLLECTED.get()
    if unknown and collector is None:
        raise unknown[0]
    if collector is not None:
        collector.extend(unknown)
    rest = [p for p in problems if p not in unknown]
    if rest:
        raise rest[0]
    if found is None:  # pragma: no cover - read_all reports why
        raise ConfigError("cannot be read", file=file, key=f"fleet:{block}")
    return found


def between(low: float, high: float | None = None) -> AfterValidator:
    """A duration (seconds) or number within ``low..high``."""

    def check(value: float) -> float:
        if value < low or (high is not None and value > high):
            raise problem(f"{value:g} is outside {low:g}..{high if high is not None else 'inf'}")
        return value

    return AfterValidator(check)


def choice(*options: str) -> BeforeValidator:
    @labelled(" | ".join(options))
    def check(value: object) -> str:
        if not isinstance(value, str) or value.strip() not in options:
            raise problem(f"{value!r} is not one of {', '.join(options)}")
        return value.strip()

    return BeforeValidator(check)


@labelled("list of strings")
def _string_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise problem("must be a non-empty list of strings")
    if any(not isinstance(item, str) or not item.strip() for item in value):
        raise problem(f"must be a list of non-empty strings, not {value!r}")
    return tuple(item.strip() for item in value)


StringList = Annotated[tuple[str, ...], BeforeValidator(_string_list)]
"""One string or a non-empty list of them."""


def slot_names(field: str, check: Callable[[str], str | None] | None = None) -> BeforeValidator:
    """``fleet:<block>.<field>``: ``{blue: ..., green: ...}`` distinct strings, each slot defaulting to its name.

    ``check`` says what is wrong with a name (None when nothing is).
    """

    @labelled("`{blue, green}` of names")
    def read(value: object) -> dict[str, str]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise problem(f"must be a mapping, not {value!r}")
        unknown = sorted(str(k) for k in value if k not in SLOTS)
        if unknown:
            raise problem(f"unknown slot(s) {', '.join(unknown)}; slots are blue and green")
        names: dict[str, str] = {}
        for slot in SLOTS:
            name = value.get(slot, slot)
            if not isinstance(name, str) or not name.strip():
                raise problem(f"must be a non-empty string, not {name!r}", key=f"{field}.{slot}")
            wrong = check(name.strip()) if check else None
            if wrong:
                raise problem(wrong, key=f"{field}.{slot}")
            names[slot] = name.strip()
        if names["blue"] == names["green"]:
            raise problem(f"blue and green must differ (both are {names['blue']!r})")
        return names

    return BeforeValidator(read)

