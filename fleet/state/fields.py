"""The value types a state file is made of, each failing with the words the state store has always used.

A state file is read two ways at once, and both are kept on purpose. What
fleet checks strictly (the slots, the weights, ``env``, ``seq``, the history
head) is refused with a message naming the key: ``expected bool, found str``,
``missing``. A cutover record is read leniently, converting as Python's
``int()``, ``float()`` or an enum would, and any value that does not convert
is ``malformed cutover record (...)`` with the conversion's own words: that is
what files in the field were judged by, and a stricter reading would refuse
states that fleet resumes today.

Each type is a ``pydantic_core`` plain-validator schema whose function raises
:func:`problem` (a message, and a key where the key is not where the
validator found the value); :mod:`fleet.state.schema` turns it into a
``StateError``. The schemas are built with ``pydantic_core`` directly, not
through ``pydantic`` models: the same validation engine, without the ~80 ms
that importing pydantic and building its models adds to every ``fleet status``.
A required key defaults to :data:`ABSENT` and is validated anyway, so a
missing key gets the same words as a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from pydantic_core import PydanticCustomError
from pydantic_core import core_schema as cs

from fleet.domain.model import Version

_E = TypeVar("_E", bound=Enum)
_T = TypeVar("_T")


class _Absent(Enum):
    ABSENT = "absent"


ABSENT = _Absent.ABSENT
"""The default of a required key: the key's validator sees it when the key is not in the file."""


def problem(message: str, key: str | None = None) -> PydanticCustomError:
    """A validation error with fleet's message; ``key`` overrides where the validator found the value.

    The same error as :func:`fleet.settings.types.problem`, without importing pydantic.
    """
    return PydanticCustomError("fleet", "{message}", {"message": message, "key": key})


def plain(func: Callable[[Any], Any]) -> cs.CoreSchema:
    return cs.no_info_plain_validator_function(func)


def required(schema: cs.CoreSchema) -> cs.TypedDictField:
    """A key that must be present: its validator sees :data:`ABSENT` when it is not."""
    return cs.typed_dict_field(cs.with_default_schema(schema, default=ABSENT, validate_default=True), required=False)


def nullable(schema: cs.CoreSchema) -> cs.TypedDictField:
    """A key read as ``data.get(key)``: absent is None, and None is validated like any other value."""
    return cs.typed_dict_field(cs.with_default_schema(schema, default=None, validate_default=True), required=False)


def optional(schema: cs.CoreSchema, default: Any = None, factory: Callable[[], Any] | None = None) -> cs.TypedDictField:
    """A key that may be absent, taking ``default`` (or what ``factory`` makes) unvalidated."""
    inner = (cs.with_default_schema(schema, default_factory=factory) if factory is not None
             else cs.with_default_schema(schema, default=default))
    return cs.typed_dict_field(inner, required=False)


def record(fields: dict[str, cs.TypedDictField], build: Callable[[dict[str, Any]], Any] | None = None) -> cs.CoreSchema:
    """An object whose known keys are judged in the order of ``fields`` (others are ignored); ``build`` runs last."""
    schema = cs.typed_dict_schema(fields, extra_behavior="ignore")
    return schema if build is None else cs.no_info_after_validator_function(build, schema)


def exactly(value: object, kind: type[_T]) -> _T:
    """``value`` if it is a ``kind`` (a boolean is not a whole number)."""
    if value is ABSENT:
        raise problem("missing")
    if kind is int and isinstance(value, bool):
        raise problem("expected a whole number, found a boolean")
    if not isinstance(value, kind):
        raise problem(f"expected {kind.__name__}, found {type(value).__name__}")
    return value


def strict(kind: type) -> cs.CoreSchema:
    return plain(lambda value: exactly(value, kind))


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise problem("expected a number")
    return float(value)


def _version(value: object) -> Version:
    try:
        return Version.parse(value)
    except ValueError as err:
        raise problem(str(err)) from None


def _optional_version(value: object) -> Version | None:
    return None if value is None else _version(value)


def one_of(kind: type[_E]) -> cs.CoreSchema:
    """A member of ``kind`` by value; anything else lists the values."""

    def check(value: object) -> _E:
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            raise problem(f"{value!r} is not one of {allowed}") from None

    return plain(check)


NUMBER = plain(_number)
VERSION = plain(_version)
OPTIONAL_VERSION = plain(_optional_version)


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise problem(f"expected an object, found {type(value).__name__}")
    return value


def object_or_empty(value: object) -> object:
    """``data.get(key) or {}``: an absent, null or empty block reads as every default."""
    return value or {}


def policy(cls: Callable[..., Any], fields: tuple[str, ...]) -> cs.CoreSchema:
    """An object whose known keys are passed to ``cls`` as they are (the record's policies were written by fleet)."""

    def build(value: object) -> Any:
        found = _object(value)
        return cls(**{k: found[k] for k in fields if k in found})

    return plain(build)


def malformed(err: Exception) -> Exception:
    return problem(f"malformed cutover record ({err})", key="cutover")


def lax(convert: Callable[[Any], Any], name: str | None = None) -> cs.CoreSchema:
    """A cutover value converted by ``convert``; ``name`` makes the key required (absent: a ``KeyError``)."""

    def run(value: object) -> object:
        if value is ABSENT:
            raise malformed(KeyError(name))
        try:
            return convert(value)
        except (KeyError, TypeError, ValueError) as err:
            raise malformed(err) from None

    return plain(run)


def lax_optional(convert: Callable[[Any], Any]) -> cs.CoreSchema:
    """``None if value is None else convert(value)``."""
    return lax(lambda value: None if value is None else convert(value))


def whole_numbers(value: Any) -> tuple[int, ...]:
    """``tuple(int(n) for n in value or ())``."""
    return tuple(int(n) for n in value or ())


def texts(value: object) -> dict[str, str]:
    """A mapping of names (revisions): an absent block is empty; keys and values become strings."""
    return {str(k): str(v) for k, v in _object(value or {}).items()}
