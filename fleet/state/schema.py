"""A state file as a ``pydantic_core`` schema, validated once per read, that gives the frozen ``EnvironmentState``.

:data:`_V1` is what every format holds (format 1 has nothing more); :data:`_V2`
adds the owner (``rehearsal``) and the history head. The keys are listed in
the order the file is judged: of several faults, the first in this order is
reported (:func:`first_error`), as one line naming the file and the key, in
the words of :mod:`fleet.state.fields`.

The schema is built on ``pydantic_core`` alone (the engine under pydantic's
models), so reading 200 states costs its ~16 ms import and a fraction of a
millisecond to build the validators, not pydantic's import and model
building. The validators are built when this module is imported (once per
process); the CLI imports it only to read a state, never for ``fleet --help``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic_core import ErrorDetails, SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

from fleet.domain.cutover import EnvironmentState, LastResult, Phase
from fleet.domain.model import Role, SlotName, SlotState, Weights
from fleet.errors import StateError
from fleet.state.codec import FORMAT
from fleet.state.fields import (
    NUMBER,
    OPTIONAL_VERSION,
    VERSION,
    exactly,
    nullable,
    one_of,
    optional,
    plain,
    problem,
    record,
    required,
    strict,
)
from fleet.state.schema_cutover import CUTOVER


def _format(value: object) -> int:
    found = exactly(value, int)
    if found > FORMAT:
        raise problem(f"written by a newer fleet (format {found}, this fleet reads {FORMAT}); upgrade fleet")
    if found < 1:
        raise problem(f"unknown format {found}")
    return found


def _weights(found: dict[str, Any]) -> Weights:
    try:
        return Weights(blue=found["blue"], green=found["green"])
    except ValueError as err:
        raise problem(str(err)) from None


_SLOT = record({
    "role": nullable(one_of(Role)),
    "version": optional(OPTIONAL_VERSION),
    "healthy": required(strict(bool)),
})

_FIELDS: dict[str, cs.TypedDictField] = {
    "format": required(plain(_format)),
    "slots": nullable(record({"blue": nullable(_SLOT), "green": nullable(_SLOT)})),
    "weights": nullable(record({"blue": required(strict(int)), "green": required(strict(int))}, _weights)),
    "cutover": optional(cs.nullable_schema(CUTOVER)),
    "last": optional(cs.nullable_schema(record({
        "outcome": nullable(one_of(Phase)),
        "at": nullable(NUMBER),
        "target": nullable(VERSION),
        "reason": optional(cs.any_schema()),
    }))),
    "env": required(strict(str)),
    "seq": required(strict(int)),
}


def _counts_to_seq(value: object, info: cs.ValidationInfo) -> object:
    """The history head counts up to ``seq`` (judged only when ``seq`` itself is valid)."""
    if isinstance(value, dict) and "seq" in info.data:
        counted = value.get("seq")
        if isinstance(counted, int) and not isinstance(counted, bool) and counted != info.data["seq"]:
            raise problem(f"{counted} differs from seq {info.data['seq']}", key="history.seq")
    return value


_HISTORY = record({"seq": required(strict(int)), "digest": required(strict(str))})

_V1 = SchemaValidator(record(_FIELDS))
_V2 = SchemaValidator(record({
    **_FIELDS,
    "rehearsal": required(strict(bool)),
    "history": nullable(cs.with_info_before_validator_function(_counts_to_seq, _HISTORY)),
}))


@dataclasses.dataclass(frozen=True)
class Found:
    """What a state file holds: the state, its format, and (format 2, read with ``meta``) owner and history head."""

    state: EnvironmentState
    format: int
    rehearsal: bool | None = None
    head: str | None = None


_EARLY = {("cutover",), ("cutover", "rollout"), ("cutover", "rollout", "analysis"), ("cutover", "teardown")}
"""Where a cutover record's objects are checked before any of its values."""


def first_error(errors: list[ErrorDetails]) -> ErrorDetails:
    """The fault reported: the first, except that a cutover record's objects go before its values."""
    first = errors[0]
    if first["loc"][:1] == ("cutover",):
        early = [e for e in errors if tuple(e["loc"]) in _EARLY]
        return early[0] if early else first
    return first


def _dotted(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def state_error(error: ValidationError, file: str) -> StateError:
    item = first_error(error.errors(include_url=False))
    ctx = item.get("ctx") or {}
    key = _dotted(item["loc"])
    if item["type"] == "fleet":
        message, key = str(ctx["message"]), str(ctx.get("key") or key)
    elif item["type"] in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected an object, found {type(item['input']).__name__}"
    else:
        message = item["msg"]
    return StateError(message, file=file, key=key or None)


def _slot(found: dict[str, Any]) -> SlotState:
    return SlotState(role=found["role"], version=found["version"], healthy=found["healthy"])


def read(raw: object, *, file: str, meta: bool) -> Found:
    """The file's state; with ``meta``, format 2's owner and history head are checked too."""
    fmt = raw.get("format") if isinstance(raw, dict) else None
    v2 = meta and isinstance(fmt, int) and not isinstance(fmt, bool) and 2 <= fmt <= FORMAT
    try:
        f = (_V2 if v2 else _V1).validate_python(raw)
    except ValidationError as err:
        raise state_error(err, file) from None
    last = f["last"]
    state = EnvironmentState(
        env=f["env"],
        slots={SlotName.BLUE: _slot(f["slots"]["blue"]), SlotName.GREEN: _slot(f["slots"]["green"])},
        weights=f["weights"],
        cutover=f["cutover"],
        last=None if last is None else LastResult(outcome=last["outcome"], at=last["at"], target=last["target"],
                                                  reason=last["reason"]),
        seq=f["seq"],
    )
    if not v2:
        return Found(state, f["format"])
    return Found(state, f["format"], rehearsal=f["rehearsal"], head=f["history"]["digest"])
