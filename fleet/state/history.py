"""What both state stores mean by a history, whatever the medium holds it.

The local store keeps its history as lines of one file and the S3 store as
one object a record; how they read and write differs, but what counts as a
gap that a repair explains, what a repair records and how damage is reported
to the operator is one rule, kept here so the two stores cannot drift apart.
"""

from __future__ import annotations

import time

from fleet.domain.machine import EnvironmentState
from fleet.ports import Record
from fleet.state.codec import Framed

REPAIRED = "HistoryRepaired"
"""The event of the record ``fleet state repair`` writes: it names the records that were lost."""


def explains_gap(framed: Framed, expected: int) -> bool:
    """Whether ``framed`` is a repair record that names exactly the records missing before it."""
    if framed.seq <= expected:
        return False
    record = framed.record
    return (
        record.event == REPAIRED
        and record.detail.get("lost_from") == expected
        and record.detail.get("lost_to") == framed.seq - 1
    )


def damage_message(damage: str, last: tuple[int, str] | None, counted: int, env: str, *, aside: str) -> str:
    """What the operator reads when a history is damaged: where it breaks and how to go on."""
    good = "no record is good" if last is None else f"the last good record is {last[0]} ({last[1]})"
    return (
        f"history is damaged: {damage}; {good}, the state counts {counted}. Nothing was done; "
        f"keep the damaged {aside} with: fleet state repair {env}"
    )


def aside_stamp() -> str:
    """The UTC timestamp that names what a repair keeps aside."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def repair_record(state: EnvironmentState, kept: int, damage: str, aside: str, actor: dict[str, str]) -> Record:
    """The record a repair appends after record ``kept``: it names the records lost and where they went."""
    return Record(
        seq=state.seq + 1,
        at=time.time(),
        event=REPAIRED,
        phase=None if state.cutover is None else state.cutover.phase.value,
        weights=state.weights,
        detail={"lost_from": kept + 1, "lost_to": state.seq, "damage": damage, "aside": aside},
        actor=actor,
    )
