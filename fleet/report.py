"""A self-contained HTML picture of a cutover's timeline (filled in by the rehearsal work)."""

from __future__ import annotations

from collections.abc import Sequence

from fleet.ports import Record


def write_report(path: str, env: str, records: Sequence[Record]) -> None:
    raise NotImplementedError
