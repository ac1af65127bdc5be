"""Reading the local store's history file: one framed JSON record per line.

A walk from the first line checks each record's sequence number and its link
in the chain of digests and stops at the first that is missing, torn, edited
or out of order; the store acts only on the good prefix it returns. Kept apart
from the store so that the walk, the part most exposed to damaged bytes, can
be read and tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.state.codec import GENESIS, DamagedRecord, Framed, unframe_bytes
from fleet.state.history import damage_message, explains_gap


@dataclass(frozen=True)
class Head:
    """Where a validated history ends: the last counted record's seq and digest, and the byte after it."""

    seq: int
    digest: str
    offset: int


@dataclass(frozen=True)
class Scan:
    """What a walk through a history found: the good prefix, and what stopped it (None: nothing)."""

    records: list[Framed]
    head: Head
    damage: str | None
    last_good: Framed | None


def scan_history(data: bytes, counted: int, *, file: str) -> Scan:
    """Walk records 1..``counted``; stop at the first that is missing, torn, edited or out of the chain.

    Records beyond ``counted`` are a torn tail and are not read. A record of a
    format-1 history (no digest) may repeat a sequence number (the old store
    superseded a torn tail by appending): the later one wins.
    """
    records: list[Framed] = []
    ends: list[int] = []
    digests: list[str] = []
    offset = 0
    expected = 1
    prev = GENESIS
    damage: str | None = None
    number = 0
    while expected <= counted:
        if offset >= len(data):
            damage = f"record {expected} is missing (the history ends at record {expected - 1})"
            break
        newline = data.find(b"\n", offset)
        number += 1
        if newline < 0:
            damage = f"record {expected} (line {number}) is torn: no end of line"
            break
        line = data[offset:newline]
        if not line.strip():
            offset = newline + 1
            continue
        try:
            framed = unframe_bytes(line, file=f"{file}:{number}")
        except DamagedRecord as err:
            damage = f"record {expected} (line {number}) is damaged: {err}"
            break
        seq = framed.seq
        if framed.digest is None and seq < expected and records and seq >= records[0].seq:
            keep = seq - records[0].seq
            del records[keep:], ends[keep:], digests[keep:]
            expected = seq
            prev = digests[-1] if digests else GENESIS
        if seq != expected and not explains_gap(framed, expected):
            what = "missing" if seq > expected else "repeated"
            damage = f"record {expected} is {what} (line {number} holds record {seq})"
            break
        if framed.digest is not None and framed.prev != prev:
            damage = f"record {seq} (line {number}) does not follow record {expected - 1}: the chain of digests breaks"
            break
        records.append(framed)
        offset = newline + 1
        ends.append(offset)
        prev = framed.digest if framed.digest is not None else GENESIS
        digests.append(prev)
        expected = seq + 1
    head = Head(records[-1].seq if records else 0, digests[-1] if digests else GENESIS, ends[-1] if ends else 0)
    return Scan(records, head, damage, records[-1] if records else None)


def describe_damage(scan: Scan, counted: int, env: str) -> str:
    last = scan.last_good
    where = None if last is None else (last.seq, last.record.event)
    aside = "file aside and go on from the last good record"
    return damage_message(scan.damage or "", where, counted, env, aside=aside)
