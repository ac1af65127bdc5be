"""Turning results into tables (tabulate) and JSON.

Rendering is kept apart from the commands so that every command reports the
same way: a table for people, ``--output json`` for machines (numbers, epoch
seconds and snake_case keys only; see docs/output.md). The display shown
while a cutover runs is :mod:`fleet.cli.progress`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tabulate import tabulate

from fleet.domain.machine import EnvironmentState
from fleet.ports import Record
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
        if c.awaiting_approval is not None:
            phase += f" (awaiting fleet approve --step {c.awaiting_approval})"
        if c.held:
            phase += " (halted: fleet resume)"
        if c.paused:
            phase += " (held: maintenance window; fleet resume in the next)"
    last = state.last
    return {
        "environment": env,
        "active": active.value if active else "-",
        "blue": _slot_cell(state, "blue"),
        "green": _slot_cell(state, "green"),
        "weights": f"{state.weights.blue}/{state.weights.green}",
        "phase": phase,
        "last result": last_result(state),
        "at": when(None if last is None else last.at),
    }


def last_result(state: EnvironmentState) -> str:
    """The last cutover's outcome, worded so that ROLLED_BACK is not read as "rolled back to"."""
    last = state.last
    if last is None:
        return "-"
    return f"cutover to {last.target}: {last.outcome.value}"


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
        case "NotificationsSent":
            sent = d.get("deliveries", [])
            counts = Counter(str(x.get("status")) for x in sent)
            bad = next((x for x in sent if x.get("error")), None)
            said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            return said + (f"; {bad.get('target')}: {bad.get('error')}" if bad else "")
        case "SmokeTested":
            return f"step {d.get('step')}: " + ("passed" if d.get("ok") else f"FAILED: {d.get('reason')}")
        case "StepApproved":
            return f"step {d.get('step')} approved by {d.get('by') or '?'}"
        case "ApprovalPending":
            return f"step {d.get('step')} waits for fleet approve"
    keys = {k: v for k, v in d.items() if not isinstance(v, (dict, list))}
    return ", ".join(f"{k}={v}" for k, v in keys.items())


def health_table(view: Sequence[Mapping[str, Any]]) -> str:
    """The health gate's view, one row per slot and tenant; a slot that could not be asked says why."""
    rows = []
    for row in view:
        asked = row.get("asked", True)
        reconciled = row.get("reconciled")
        rows.append({
            "slot": row.get("slot", "-"),
            "tenant": row.get("tenant", "-"),
            "reconciled": "-" if not asked else ("yes" if reconciled else "no"),
            "objects": "-" if row.get("objects") is None else row["objects"],
            "failing": row.get("failing", ""),
            "could not ask": row.get("error", "") if not asked else "",
        })
    return table(rows)


def history_json(records: Iterable[Record]) -> list[dict[str, Any]]:
    return [encode_record(r) for r in records]



def timeline(
    records: Sequence[Record], observe: Callable[[float, float | None], Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One row per phase (and per weight step) of the last cutover in ``records``, as JSON-ready numbers.

    Each row: ``phase``, ``start`` and ``end`` (epoch seconds), ``duration_s``,
    ``weights`` ({blue, green} percent), ``analysis`` (the last window's
    requests, errors, success_rate, p99_ms, outcome and reason, or None) and
    ``note``. ``observe(start, end)`` adds what was measured outside the
    engine over each row's span (``end`` None for the last row): the real
    rehearsal adds what its users saw, under ``users``.
    """
    start_index = max((i for i, r in enumerate(records) if r.event == "CutoverRequested"), default=None)
    if start_index is None:
        return []
    rows: list[dict[str, Any]] = []
    run = records[start_index:]
    current: dict[str, Any] | None = None
    applied = False
    for r in run:
        phase = r.phase or "-"
        if current is not None and r.event == "AnalysisCompleted":
            verdict = r.detail.get("verdict", {})
            e = verdict.get("evidence", {})
            current["analysis"] = {
                "requests": e.get("requests"),
                "errors": e.get("errors"),
                "success_rate": e.get("success_rate"),
                "p99_ms": e.get("p99_ms"),
                "outcome": verdict.get("outcome"),
                "reason": verdict.get("reason", ""),
            }
        new_step = r.event == "WeightsApplied" and current is not None and applied
        if current is None or current["phase"] != phase or new_step:
            if current is not None:
                current["end"] = r.at
            current = {"phase": phase, "start": r.at, "end": None, "duration_s": None,
                       "weights": {}, "analysis": None, "note": ""}
            applied = False
            rows.append(current)
        current["weights"] = {"blue": r.weights.blue, "green": r.weights.green}
        if r.event == "WeightsApplied":
            applied = True
        if r.event in ("StepFailed", "RollbackRequested", "AbortRequested"):
            current["note"] = summarise(r)
    if current is not None and current["end"] is None:
        current["end"] = run[-1].at
    for index, row in enumerate(rows):
        row["duration_s"] = round(row["end"] - row["start"], 3)
        if observe is not None:
            end = rows[index + 1]["start"] if index + 1 < len(rows) else None
            row["users"] = dict(observe(row["start"], end))
    return rows


def timeline_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``timeline`` rows for people: times relative to the start, percentages, one note."""
    if not rows:
        return []
    t0 = rows[0]["start"]
    out = []
    for row in rows:
        w = row.get("weights") or {}
        shown: dict[str, str] = {
            "phase": row["phase"],
            "start": "+" + duration(row["start"] - t0),
            "duration": duration(row.get("duration_s") or 0.0),
            "weights": f"{w.get('blue', '-')}/{w.get('green', '-')}",
        }
        users = row.get("users")
        if users is not None:
            split = users.get("split")
            shown["observed"] = "-" if not split else f"{split.get('blue', 0.0):.0f}/{split.get('green', 0.0):.0f}"
            rate = users.get("success_rate")
            shown["users ok"] = "-" if rate is None else f"{rate:.2f}% of {users.get('requests')}"
        a = row.get("analysis")
        rate = None if a is None else a.get("success_rate")
        shown["success rate"] = "-" if rate is None else f"{rate:.2f}% of {a.get('requests') if a else 0}"
        shown["note"] = row.get("note") or ("" if a is None else str(a.get("outcome") or ""))
        out.append(shown)
    return out
