"""The state store's JSON format: written by hand so that it stays readable, versioned and byte-stable.

A state file is what an operator opens at 3 a.m. to see where a cutover
stopped, so it is plain JSON with obvious keys. ``FORMAT`` is bumped on any
incompatible change; a file from a newer fleet is refused (never rewritten)
so that an old binary in one pipeline cannot corrupt what a newer one wrote.

Reading goes through a ``pydantic_core`` schema (:mod:`fleet.state.schema`),
whose errors name the file and the key. It is imported when a state is first
read, not with this module: the engine writes history records and the
renderers encode states without loading it, and ``fleet --help`` loads
neither pydantic nor ``pydantic_core``.

Format 2 adds what makes the store trustworthy (format 1 is still read):
``rehearsal`` says whether the state belongs to a rehearsal (a production
command refuses it, a rehearsal refuses anything else), and ``history``
holds the sequence number and digest of the last history record, so a
missing, torn or edited history is found before anything is done (how each
record is chained to the one before it: :mod:`fleet.state.records`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fleet.domain.machine import Cutover, EnvironmentState
from fleet.errors import StateError
from fleet.state.records import (  # the history's records: re-exported for the stores and the engine
    DamagedRecord,
    Framed,
    decode_record,
    encode_record,
    event_detail,
    frame_record,
    record_line,
    to_jsonable,
    unframe,
    unframe_bytes,
)

__all__ = [
    "FORMAT", "GENESIS", "DamagedRecord", "Framed", "StateMeta", "check_owner", "decode_record", "decode_state",
    "dump_state", "encode_record", "encode_state", "event_detail", "frame_record", "load_state",
    "load_state_meta", "record_line", "to_jsonable", "unframe", "unframe_bytes",
]

FORMAT = 2
GENESIS = ""
"""The ``prev`` of the first record (and of the first one after a history of format 1)."""


@dataclasses.dataclass(frozen=True)
class StateMeta:
    """What the store writes beside the state: whose it is, and the history it counts."""

    rehearsal: bool | None
    """None in a format-1 file, which did not say."""
    head: str | None
    """The digest of record ``seq``; None in a format-1 file."""
    format: int = FORMAT


def check_owner(env: str, meta: StateMeta, *, want: bool | None, location: str, file: str, place: str) -> None:
    """Refuse a state of the other kind: a rehearsal's to a production command, a real one to a rehearsal.

    ``want`` is the store's kind (None reads both); ``place`` names what to give ``--state`` instead.
    """
    if want is True and not meta.rehearsal:
        raise StateError(
            "holds a real environment's state, not a rehearsal's; a rehearsal never writes there: "
            f"give --state a {place} of its own", file=file,
        )
    if want is False and meta.rehearsal:
        raise StateError(
            f"holds a rehearsal's state, not a real environment's; finish it with "
            f"fleet resume {env} --state {location}, and keep production state elsewhere", file=file,
        )


def dump_state(state: EnvironmentState, *, rehearsal: bool = False, head: str = GENESIS) -> str:
    data = encode_state(state)
    data["rehearsal"] = rehearsal
    data["history"] = {"seq": state.seq, "digest": head}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def encode_state(state: EnvironmentState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "env": state.env,
        "seq": state.seq,
        "slots": {
            name.value: {
                "role": slot.role.value,
                "version": None if slot.version is None else str(slot.version),
                "healthy": slot.healthy,
            }
            for name, slot in sorted(state.slots.items())
        },
        "weights": {"blue": state.weights.blue, "green": state.weights.green},
        "cutover": None if state.cutover is None else _encode_cutover(state.cutover),
        "last": None
        if state.last is None
        else {
            "outcome": state.last.outcome.value,
            "at": state.last.at,
            "target": str(state.last.target),
            "reason": state.last.reason,
        },
    }


def _encode_cutover(c: Cutover) -> dict[str, Any]:
    out = to_jsonable(c)
    assert isinstance(out, dict)
    return out


def load_state(text: str, *, file: str) -> EnvironmentState:
    return load_state_meta(text, file=file)[0]


def load_state_meta(text: str, *, file: str) -> tuple[EnvironmentState, StateMeta]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise StateError(
            f"not valid JSON ({err.msg} at line {err.lineno}); the file may be truncated", file=file
        ) from err
    from fleet.state.schema import read

    found = read(raw, file=file, meta=True)
    return found.state, StateMeta(rehearsal=found.rehearsal, head=found.head, format=found.format)


def decode_state(raw: object, *, file: str) -> EnvironmentState:
    """The state in ``raw`` (parsed JSON) without its owner and history head."""
    from fleet.state.schema import read

    return read(raw, file=file, meta=False).state
