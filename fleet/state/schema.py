"""A state file as pydantic models, validated once per read, that give the frozen ``EnvironmentState``.

:class:`StateFile` is what every format holds (format 1 has nothing more);
:class:`StateFileV2` adds the owner (``rehearsal``) and the history head.
The fields are declared in the order the file is judged: of several faults,
the first in this order is reported (:func:`first_error`), as one line
naming the file and the key, in the words of :mod:`fleet.state.fields`.

The models are built when this module is imported (once per process); the
CLI imports it only to read a state, never for ``fleet --help``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from fleet.domain.cutover import EnvironmentState, LastResult, Phase
from fleet.domain.model import Role, SlotName, SlotState, Version, Weights
from fleet.errors import StateError
from fleet.settings.errors import dotted
from fleet.settings.types import problem
from fleet.state.codec import FORMAT
from fleet.state.fields import NUMBER, OPTIONAL_VERSION, VERSION, exactly, nullable, one_of, required, strict
from fleet.state.schema_cutover import CutoverModel


def _format(value: object) -> int:
    found = exactly(value, int)
    if found > FORMAT:
        raise problem(f"written by a newer fleet (format {found}, this fleet reads {FORMAT}); upgrade fleet")
    if found < 1:
        raise problem(f"unknown format {found}")
    return found


class SlotModel(BaseModel):
    role: Annotated[Role, one_of(Role)] = nullable()
    version: Annotated[Version | None, OPTIONAL_VERSION] = None
    healthy: Annotated[bool, strict(bool)] = required()

    def value(self) -> SlotState:
        return SlotState(role=self.role, version=self.version, healthy=self.healthy)


class SlotsModel(BaseModel):
    blue: SlotModel = nullable()
    green: SlotModel = nullable()


class WeightsModel(BaseModel):
    blue: Annotated[int, strict(int)] = required()
    green: Annotated[int, strict(int)] = required()

    _value: Weights = PrivateAttr()

    @model_validator(mode="after")
    def add_up(self) -> WeightsModel:
        try:
            self._value = Weights(blue=self.blue, green=self.green)
        except ValueError as err:
            raise problem(str(err)) from None
        return self

    @property
    def value(self) -> Weights:
        return self._value


class LastModel(BaseModel):
    outcome: Annotated[Phase, one_of(Phase)] = nullable()
    at: Annotated[float, NUMBER] = nullable()
    target: Annotated[Version, VERSION] = nullable()
    reason: Any = None


class StateFile(BaseModel):
    """What a state file of any format holds."""

    format: Annotated[int, PlainValidator(_format)] = required()
    slots: SlotsModel = nullable()
    weights: WeightsModel = nullable()
    cutover: CutoverModel | None = None
    last: LastModel | None = None
    env: Annotated[str, strict(str)] = required()
    seq: Annotated[int, strict(int)] = required()

    def state(self) -> EnvironmentState:
        last = self.last
        return EnvironmentState(
            env=self.env,
            slots={SlotName.BLUE: self.slots.blue.value(), SlotName.GREEN: self.slots.green.value()},
            weights=self.weights.value,
            cutover=None if self.cutover is None else self.cutover.value,
            last=None if last is None else LastResult(outcome=last.outcome, at=last.at, target=last.target,
                                                      reason=last.reason),
            seq=self.seq,
        )


class HistoryModel(BaseModel):
    seq: Annotated[int, strict(int)] = required()
    digest: Annotated[str, strict(str)] = required()


class StateFileV2(StateFile):
    """Format 2: whose state it is, and the digest of the history record it counts up to."""

    rehearsal: Annotated[bool, strict(bool)] = required()
    history: HistoryModel = nullable()

    @field_validator("history", mode="before")
    @classmethod
    def counts_to_seq(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, dict) and "seq" in info.data:
            counted = value.get("seq")
            if isinstance(counted, int) and not isinstance(counted, bool) and counted != info.data["seq"]:
                raise problem(f"{counted} differs from seq {info.data['seq']}", key="history.seq")
        return value


_EARLY = {("cutover",), ("cutover", "rollout"), ("cutover", "rollout", "analysis"), ("cutover", "teardown")}
"""Where a cutover record's objects are checked before any of its values."""


def first_error(errors: list[ErrorDetails]) -> ErrorDetails:
    """The fault reported: the first, except that a cutover record's objects go before its values."""
    first = errors[0]
    if first["loc"][:1] == ("cutover",):
        early = [e for e in errors if tuple(e["loc"]) in _EARLY]
        return early[0] if early else first
    return first


def state_error(error: ValidationError, file: str) -> StateError:
    item = first_error(error.errors(include_url=False))
    ctx = item.get("ctx") or {}
    key = dotted(item["loc"])
    if item["type"] == "fleet":
        message, key = str(ctx["message"]), str(ctx.get("key") or key)
    elif item["type"] in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected an object, found {type(item['input']).__name__}"
    else:
        message = item["msg"]
    return StateError(message, file=file, key=key or None)


def read(raw: object, *, file: str, meta: bool) -> StateFile:
    """The file's model; with ``meta``, format 2's owner and history head are checked too."""
    fmt = raw.get("format") if isinstance(raw, dict) else None
    v2 = meta and isinstance(fmt, int) and not isinstance(fmt, bool) and 2 <= fmt <= FORMAT
    try:
        return (StateFileV2 if v2 else StateFile).model_validate(raw)
    except ValidationError as err:
        raise state_error(err, file) from None
