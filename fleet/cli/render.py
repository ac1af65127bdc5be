"""Turning results into tables (tabulate), JSON, and a live progress line.

Rendering is kept apart from the commands so that every command reports the
same way: a table for people, ``--output json`` for machines, and while a
cutover runs, one progress line that rewrites itself on a terminal and plain
lines in a pipeline's log.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from tabulate import tabulate

from fleet.domain.machine import EnvironmentState, Phase
from fleet.ports import Notice, Record
from fleet.state.codec import encode_record, encode_state


def when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def table(rows: Sequence[Mapping[str, Any]], headers: Sequence[str] | None = None) -> str:
    if not rows:
        return "(none)"
    keys = list(headers) if headers is not None else list(rows[0].keys())
    return tabulate([[row.get(k, "") for k in keys] for row in rows], headers=keys, tablefmt="simple")


def to_json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def status_row(
    env: str, state: EnvironmentState | None, readback: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One environment's row; with ``readback`` (see ``fleet.wiring.traffic_readback``) a column of what the
    traffic provider itself says."""
    row = _status_row(env, state)
    if readback is not None:
        if readback.get("error"):
            said = "unreadable: " + str(readback["error"])[:80]
        elif readback.get("drift"):
            said = f"DRIFT: {readback['weights'] or 'weight 0 on both slots'}"
        else:
            said = "agrees"
        row["provider"] = said
    return row


def _status_row(env: str, state: EnvironmentState | None) -> dict[str, Any]:
    if state is None:
        return {
            "environment": env,
            "active": "-",
            "blue": "-",
            "green": "-",
            "weights": "-",
            "phase": "not started",
            "last result": "-",
            "at": "-",
        }
    active = state.active
    c = state.cutover
    phase = "idle"
    if c is not None and c.in_flight:
        phase = c.phase.value + (f" {c.step_label()}" if c.step_label() else "")
        if c.awaiting_confirmation:
            phase += " (awaiting --yes)"
        if c.held:
            phase += " (halted: fleet resume)"
    last = state.last
    return {
        "environment": env,
        "active": active.value if active else "-",
        "blue": _slot_cell(state, "blue"),
        "green": _slot_cell(state, "green"),
        "weights": f"{state.weights.blue}/{state.weights.green}",
        "phase": phase,
        "last result": "-" if last is None else f"{last.outcome.value} -> {last.target}",
        "at": when(None if last is None else last.at),
    }


def _slot_cell(state: EnvironmentState, name: str) -> str:
    for slot_name, slot in state.slots.items():
        if slot_name.value == name:
            if slot.role.value == "absent":
                return "-"
            return f"{slot.version} ({slot.role.value})"
    return "-"


def status_json(env: str, state: EnvironmentState | None) -> dict[str, Any]:
    if state is None:
        return {"environment": env, "state": None}
    return {"environment": env, "state": encode_state(state)}


def history_rows(records: Iterable[Record]) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        rows.append(
            {
                "seq": r.seq,
                "at": when(r.at),
                "event": r.event,
                "phase": r.phase or "-",
                "weights": f"{r.weights.blue}/{r.weights.green}",
                "by": r.actor.get("user", "?") + "@" + r.actor.get("host", "?"),
                "detail": summarise(r),
            }
        )
    return rows


def summarise(r: Record) -> str:
    d = r.detail
    match r.event:
        case "CutoverRequested":
            return f"to {d.get('target')} steps {d.get('rollout', {}).get('steps')}"
        case "AnalysisCompleted":
            v = d.get("verdict", {})
            e = v.get("evidence", {})
            rate = e.get("success_rate")
            rate_s = "-" if rate is None else f"{rate:.2f}%"
            return (
                f"{v.get('outcome')}: {e.get('requests')} req, {e.get('errors')} err, {rate_s}; {v.get('reason', '')}"
            )
        case "HealthReported":
            rep = d.get("report", {})
            if rep.get("reconciled"):
                return "reconciled"
            fails = rep.get("failures", [])
            if fails:
                f = fails[0]
                ref = f.get("ref", {})
                return (
                    f"{ref.get('kind')}/{ref.get('namespace')}/{ref.get('name')}: {f.get('reason')}: {f.get('message')}"
                )
            return "not reconciled"
        case "StepFailed":
            return f"{d.get('command')}: {d.get('reason')}"
        case "RollbackRequested" | "AbortRequested":
            return str(d.get("reason", ""))
    keys = {k: v for k, v in d.items() if not isinstance(v, (dict, list))}
    return ", ".join(f"{k}={v}" for k, v in keys.items())


def health_table(view: Sequence[Mapping[str, Any]]) -> str:
    """The health gate's view, one row per slot and tenant."""
    return table(view)


def history_json(records: Iterable[Record]) -> list[dict[str, Any]]:
    return [encode_record(r) for r in records]


def timeline(
    records: Sequence[Record], observe: Callable[[float, float | None], Mapping[str, str]] | None = None
) -> list[dict[str, Any]]:
    """One row per phase of the last cutover in ``records``: when, how long, weights, what analysis saw.

    ``observe(start, end)`` adds columns measured outside the engine over each
    row's span of time (``end`` None for the last row): the real rehearsal adds
    the split and success rate its load generator saw.
    """
    start_index = max((i for i, r in enumerate(records) if r.event == "CutoverRequested"), default=None)
    if start_index is None:
        return []
    rows: list[dict[str, Any]] = []
    run = records[start_index:]
    t0 = run[0].at
    current: dict[str, Any] | None = None
    for r in run:
        phase = r.phase or "-"
        if current is not None and r.event == "AnalysisCompleted":
            e = r.detail.get("verdict", {}).get("evidence", {})
            rate = e.get("success_rate")
            if rate is not None:
                current["success rate"] = f"{rate:.2f}% of {e.get('requests')}"
            current["note"] = r.detail.get("verdict", {}).get("outcome", "")
        new_step = r.event == "WeightsApplied" and current is not None and current["_applied"]
        if current is None or current["phase"] != phase or new_step:
            if current is not None:
                current["duration"] = duration(r.at - current["_start"])
            current = {
                "phase": phase,
                "_start": r.at,
                "_applied": False,
                "start": "+" + duration(r.at - t0),
                "duration": "-",
                "weights": "",
                "success rate": "-",
                "note": "",
            }
            rows.append(current)
        current["weights"] = f"{r.weights.blue}/{r.weights.green}"
        if r.event == "WeightsApplied":
            current["_applied"] = True
        if r.event in ("StepFailed", "RollbackRequested", "AbortRequested"):
            current["note"] = summarise(r)
    if current is not None and current["duration"] == "-":
        current["duration"] = duration(run[-1].at - current["_start"])
    for index, row in enumerate(rows):
        if observe is not None:
            end = rows[index + 1]["_start"] if index + 1 < len(rows) else None
            seen = observe(row["_start"], end)
            extra = {k: row.pop(k) for k in ("success rate", "note")}
            row.update(seen)
            row.update(extra)
    for row in rows:
        row.pop("_start", None)
        row.pop("_applied", None)
    return rows


class Progress:
    """The live progress line: rewritten in place on a terminal, one line per change elsewhere."""

    def __init__(self, stream: TextIO | None = None, *, started: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = started if started is not None else time.monotonic()
        self._last = ""

    def notify(self, notice: Notice) -> None:
        detail = notice.detail or {}
        state = detail.get("state")
        if notice.kind == "retry":
            self._line(f"retry: {notice.message}", force_newline=True)
            return
        if notice.kind == "output":
            self._line(f"  {notice.message}", force_newline=True)
            return
        if not isinstance(state, EnvironmentState) or state.cutover is None:
            return
        c = state.cutover
        step = f" step {c.step_label()}" if c.step_label() else ""
        elapsed = duration(time.monotonic() - self.started)
        line = (
            f"[{elapsed}] {state.env}: {c.phase.value}{step}  "
            f"weights blue {state.weights.blue}% / green {state.weights.green}%"
        )
        if c.phase in (Phase.FAILED, Phase.ROLLED_BACK, Phase.ROLLING_BACK, Phase.ABORTED) and c.reason:
            line += f"  ({c.reason})"
        if line != self._last:
            self._line(line, force_newline=notice.kind == "phase" and not self.tty)
            self._last = line

    def _line(self, text: str, *, force_newline: bool = False) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if force_newline else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()
