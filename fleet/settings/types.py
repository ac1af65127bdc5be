"""The value types every ``fleet:`` key is made of, each with the one message fleet gives when a value is wrong.

A duration, a Kubernetes version, a host name, a list of names: each is an
``Annotated`` type whose ``BeforeValidator`` accepts what a stack file holds
(YAML scalars, or JSON text as ``pulumi config set`` stores objects) and
raises :func:`problem` with fleet's own wording. ``fleet.settings.errors``
turns those into ``ConfigError``\\ s naming the file and key, so pydantic's
wording never reaches a user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from fleet.domain.model import Version, validate_steps
from fleet.settings.durations import parse_duration

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$)(\*\.)?({_LABEL}\.)*{_LABEL}\.?$")
DNS_NAME = re.compile(rf"^(?=.{{1,253}}$)(\*\.)?({_LABEL}\.)+[a-z]{{2,63}}\.?$")
"""A name Route53 can hold: :data:`HOSTNAME` with a top-level domain (checked when slots are provisioned)."""
OWNER_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")
MINOR = re.compile(r"^\d+\.\d+$")


def asked(info: ValidationInfo, key: str) -> bool:
    """Whether a rule across blocks should judge ``key``: not when an earlier reading reported it."""
    return not (info.context and key in info.context.get("reported", ()))


def problem(message: str, key: str | None = None) -> PydanticCustomError:
    """A validation error with fleet's message; ``key`` (after ``fleet:``) overrides where pydantic found it."""
    return PydanticCustomError("fleet", "{message}", {"message": message, "key": key})


LABELS: dict[object, str] = {}
"""The type of a key as docs/configuration.md names it, by the validator that reads it."""


def labelled(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        LABELS[func] = label
        return func

    return mark


def _checked(check: Callable[[Any], Any], label: str) -> BeforeValidator:
    @labelled(label)
    def run(value: Any) -> Any:
        try:
            return check(value)
        except ValueError as err:
            if isinstance(err, PydanticCustomError):
                raise
            raise problem(str(err)) from None

    return BeforeValidator(run)


def _duration(value: object) -> float:
    return parse_duration(value)


def _version(value: object) -> Version:
    if isinstance(value, Version):
        return value
    if isinstance(value, float):
        raise problem(
            f"write the version in quotes: YAML reads it as the number {value!r} "
            '(it must be a quoted string such as "1.30")'
        )
    return Version.parse(value)


def _steps(value: object) -> tuple[int, ...]:
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise problem("expected a list of percentages such as [10, 25, 50, 100]")
    reason = validate_steps(tuple(value))
    if reason:
        raise problem(f"{value}: {reason}")
    return tuple(value)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise problem("expected a non-empty string")
    return value.strip()


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise problem(f"expected true or false, found {value!r}")
    return value


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise problem(f"expected a whole number, found {value!r}")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise problem(f"expected a number, found {type(value).__name__}")
    return float(value)


def _names(value: object) -> frozenset[str]:
    if not isinstance(value, list | tuple | frozenset | set) or not all(isinstance(v, str) and v for v in value):
        raise problem("must be a list of names")
    return frozenset(value)


def _refs(value: object) -> frozenset[str]:
    names = _names(value)
    for ref in sorted(names):
        parts = ref.split("/")
        if len(parts) != 2 or not all(parts):
            raise problem(f"{ref!r} is not namespace/name")
    return names


def json_text(value: object) -> object:
    """A mapping stored as JSON text (``pulumi config set fleet:health '{...}'``) becomes the mapping."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as err:
            raise problem(f"is not valid JSON: {err}") from None
    return value


def in_range(low: float, high: float) -> Callable[[float], float]:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise problem(f"{value:g} is outside {low:g}..{high:g}")
        return value

    return check


Duration = Annotated[float, _checked(_duration, "duration")]
"""Seconds, written ``90``, ``90s``, ``5m``, ``1h30m`` or ``250ms``."""
KubeVersion = Annotated[Version, _checked(_version, "version")]
"""A quoted Kubernetes version, ``"1.30"`` or ``"1.30.2"``."""
Steps = Annotated[tuple[int, ...], _checked(_steps, "list of percents")]
"""Green's traffic share after each step: strictly increasing whole percentages ending at 100."""
Text = Annotated[str, _checked(_text, "string")]
"""A non-empty string (surrounding blanks removed)."""
Flag = Annotated[bool, _checked(_flag, "bool")]
"""``true`` or ``false`` (not ``yes``, ``1`` or ``"true"``)."""
Whole = Annotated[int, _checked(_whole, "whole number")]
"""A whole number."""
Number = Annotated[float, _checked(_number, "number")]
"""A number."""
Names = Annotated[frozenset[str], _checked(_names, "list of names")]
"""A list of non-empty names (namespaces)."""
Refs = Annotated[frozenset[str], _checked(_refs, "list of `ns/name`")]
"""A list of ``namespace/name`` references."""
