"""Turning results into tables (tabulate), JSON, and the live progress display.

Rendering is kept apart from the commands so that every command reports the
same way: a table for people, ``--output json`` for machines (numbers, epoch
seconds and snake_case keys only; see docs/output.md), and while a cutover
runs, a display that never looks hung. On a terminal that is a ``rich`` live
region, redrawn four times a second, under the completed steps; in a
pipeline's log (``CI=true`` or not a terminal) plain timestamped lines, never
wrapped, with a progress line every ``heartbeat_s`` during a long wait. rich
is imported only when the live region starts: ``fleet --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from tabulate import tabulate

from fleet.domain.machine import Analyse, AwaitHealthy, EnvironmentState, Phase, WaitUntil, pending
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


# --- the live display ----------------------------------------------------------------------


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _clock(seconds: float) -> str:
    """A countdown's figure: tenths under a minute, then m:ss or h:mm:ss, so that it visibly moves."""
    if seconds < 60:
        return f"{max(0.0, seconds):.1f}s"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Wait:
    """What the cutover waits on now, and since when (monotonic)."""

    def __init__(self, label: str, length_s: float | None, since: float) -> None:
        self.label = label
        self.length_s = length_s
        self.since = since

    def text(self, now: float, elapsed_s: float | None = None) -> str:
        elapsed = now - self.since if elapsed_s is None else elapsed_s
        if self.length_s is None:
            return f"{self.label} {_clock(elapsed)}"
        left = max(0.0, self.length_s - elapsed)
        return f"{self.label} {_clock(elapsed)}/{_clock(self.length_s)}, {_clock(left)} left"


class Progress:
    """The notifier the CLI gives the engine: what the cutover is doing, updated at least once a second."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        started: float | None = None,
        live: bool | None = None,
        heartbeat_s: float = 10.0,
        refresh_per_second: float = 4.0,
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = live if live is not None else (self.stream.isatty() and not _ci())
        self.started = started if started is not None else time.monotonic()
        self.heartbeat_s = heartbeat_s
        self.refresh_per_second = refresh_per_second
        self.changed = False
        """Whether this run committed a step (the CLI's exit 5 promises nothing changed)."""
        self._lock = threading.Lock()
        self._state: EnvironmentState | None = None
        self._wait: _Wait | None = None
        self._window: Mapping[str, Any] | None = None
        self._window_at = 0.0
        """When the window's figures were told: the countdown runs on from the source's own elapsed time."""
        self._live: Any = None
        self._ticker: threading.Thread | None = None
        self._stopped = threading.Event()
        self._last_beat = time.monotonic()
        self._said: str | None = None

    # what the engine tells

    def notify(self, notice: Notice) -> None:
        detail = notice.detail or {}
        if notice.kind == "analysis":
            with self._lock:
                self._window = detail.get("window")
                self._window_at = time.monotonic()
            return
        if notice.kind in ("retry", "request"):
            self._print(f"{notice.kind}: {notice.message}")
            return
        if notice.kind == "output":
            self._print(f"  {notice.message}")
            return
        state = detail.get("state")
        record = detail.get("record")
        if not isinstance(state, EnvironmentState) or state.cutover is None:
            return
        if record is not None:
            self.changed = True
        lines = self._completed(state, record, phase_changed=notice.kind == "phase")
        with self._lock:
            self._state = state
            self._window = None
            self._wait = self._wait_for(state, record)
        for line in lines:
            self._print(line)
        self._start()

    def _completed(self, state: EnvironmentState, record: Any, *, phase_changed: bool) -> list[str]:
        """Lines for the log above the live region: a finished window, a new phase, the reason in full."""
        c = state.cutover
        assert c is not None
        lines: list[str] = []
        event = getattr(record, "event", "")
        if event == "AnalysisCompleted":
            lines.append(self._window_line(state.env, c.new.value, record))
        if event == "WeightsApplied" and c.phase is Phase.SHIFT:
            lines.append(
                f"{self._stamp()} {state.env}: SHIFT step {c.step_label()}  weights blue {state.weights.blue}% / "
                f"green {state.weights.green}%"
            )
        elif phase_changed:
            line = f"{self._stamp()} {state.env}: {c.phase.value}"
            if c.phase is not Phase.SHIFT:
                line += f"  weights blue {state.weights.blue}% / green {state.weights.green}%"
            lines.append(line)
        halted = c.phase in (Phase.FAILED, Phase.ROLLING_BACK, Phase.ROLLED_BACK, Phase.ABORTED)
        if phase_changed and halted and c.reason and c.reason != self._said:
            lines.append(f"{self._stamp()} {state.env}: reason: {c.reason}")
            self._said = c.reason
        held = getattr(c, "held", None) or getattr(c, "paused", None)
        if held and held != self._said:
            lines.append(f"{self._stamp()} {state.env}: halted: {held}")
            self._said = held
        if event in ("TeardownDeclined", "ApprovalPending"):
            lines.append(f"{self._stamp()} {state.env}: waiting for a person: {c.reason}")
        return lines

    def _window_line(self, env: str, new: str, record: Any) -> str:
        verdict = record.detail.get("verdict", {})
        e = verdict.get("evidence", {})
        rate = e.get("success_rate")
        p99 = e.get("p99_ms")
        requests, errors = e.get("requests", 0), e.get("errors", 0)
        figures = f"{requests} request{'' if requests == 1 else 's'}, {errors} error{'' if errors == 1 else 's'}"
        if rate is not None:
            figures += f" ({rate:.2f}% ok)"
        if p99 is not None:
            figures += f", p99 {p99:.0f} ms"
        seconds = e.get("duration_s")
        took = f" after {duration(float(seconds))}" if isinstance(seconds, (int, float)) else ""
        outcome = str(verdict.get("outcome", "?")).upper()
        reason = verdict.get("reason", "")
        share = record.weights.green if new == "green" else record.weights.blue
        return f"{self._stamp()} {env}: analysis of {new} at {share}%: {outcome}{took}: {figures}" + (
            f"; {reason}" if reason and outcome != "PASS" else ""
        )

    def _wait_for(self, state: EnvironmentState, record: Any) -> _Wait | None:
        c = state.cutover
        assert c is not None
        now = time.monotonic()
        command = pending(state)
        at = getattr(record, "at", None)
        match command:
            case Analyse():
                return _Wait("analysis window", c.rollout.analysis.window_s, now)
            case WaitUntil(at=due):
                left = due - at if at is not None else None
                return _Wait("teardown bake", left, now)
            case AwaitHealthy(timeout_s=timeout):
                return _Wait("waiting for Flux, timeout", timeout, now)
            case None:
                return None
        words = {
            "ProvisionSlot": f"provisioning {c.new}", "BootstrapFlux": f"bootstrapping Flux on {c.new}",
            "CheckParity": "checking parity", "SetWeights": "moving weights", "RefreshSlots": "refreshing",
            "ConfirmTeardown": "asking to destroy the old slot", "DrainSlot": f"draining {c.old}",
            "DestroySlot": f"destroying {c.old}", "HandoffSingletons": "handing over the singletons",
        }
        return _Wait(words.get(type(command).__name__, type(command).__name__), None, now)

    # what a person sees

    def line(self) -> str:
        """The live line: phase, weights, the current wait with its countdown, the window's figures so far."""
        with self._lock:
            state, wait, window, told = self._state, self._wait, self._window, self._window_at
        if state is None or state.cutover is None:
            return f"[{duration(time.monotonic() - self.started)}] starting"
        c = state.cutover
        step = f" {c.step_label()}" if c.step_label() else ""
        parts = [
            f"[{duration(time.monotonic() - self.started)}] {state.env} {c.phase.value}{step}",
            f"blue {state.weights.blue} / green {state.weights.green}",
        ]
        now = time.monotonic()
        if wait is not None and wait.label == "analysis window" and window is None and c.phase is Phase.SHIFT:
            # a source that waits for its first reading to be taken inside the window (Prometheus: one scrape)
            parts.append(f"analysis window: waiting for the first reading {_clock(now - wait.since)}")
        elif wait is not None:
            elapsed = None
            if window is not None and wait.label == "analysis window":
                elapsed = float(window.get("elapsed_s", 0.0)) + (now - told)
            parts.append(wait.text(now, elapsed))
        if window is not None and c.phase is Phase.SHIFT:
            parts.append(self._figures(window, c.rollout.analysis))
        return " · ".join(parts)

    @staticmethod
    def _figures(window: Mapping[str, Any], policy: Any) -> str:
        requests = int(window.get("requests", 0))
        errors = int(window.get("errors", 0))
        p99 = window.get("p99_ms")
        text = f"{requests} req {errors} err"
        rate = 100.0 * (requests - errors) / requests if requests else None
        if rate is not None:
            text += f" {rate:.2f}% ok"
        if p99 is not None:
            text += f" p99 {float(p99):.0f} ms"
        if requests < policy.min_requests:
            so_far = f"too few yet ({requests}/{policy.min_requests})"
        elif rate is not None and rate < policy.success_rate:
            so_far = f"failing: {rate:.2f}% < {policy.success_rate:g}%"
        elif p99 is not None and float(p99) > policy.p99_latency_ms:
            so_far = f"failing: p99 {float(p99):.0f} ms > {policy.p99_latency_ms:g} ms"
        else:
            so_far = "passing so far"
        return f"{text} · {so_far}"

    def _stamp(self) -> str:
        if self.live:
            return f"[{duration(time.monotonic() - self.started)}]"
        wall = datetime.now(tz=UTC).strftime("%H:%M:%SZ")
        return f"{wall} +{duration(time.monotonic() - self.started)}"

    def _print(self, text: str) -> None:
        if self._live is not None:
            from rich.text import Text

            self._live.console.print(Text(text), soft_wrap=True)
            return
        self.stream.write(text + "\n")
        self.stream.flush()

    # keeping it moving

    def _start(self) -> None:
        if self._ticker is not None or self._live is not None:
            return
        if self.live:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            progress = self

            class _Line:
                def __rich__(self) -> Text:
                    return Text(progress.line(), overflow="ellipsis", no_wrap=True)

            console = Console(file=self.stream, force_terminal=True)
            self._live = Live(_Line(), console=console, refresh_per_second=self.refresh_per_second,
                              transient=True, redirect_stdout=False, redirect_stderr=False)
            self._live.start()
            return
        self._ticker = threading.Thread(target=self._beat, name="fleet-progress", daemon=True)
        self._ticker.start()

    def _beat(self) -> None:
        """Plain mode: a progress line every ``heartbeat_s`` while a wait lasts that long."""
        while not self._stopped.wait(min(1.0, self.heartbeat_s)):
            with self._lock:
                wait = self._wait
            now = time.monotonic()
            if wait is None or now - wait.since < self.heartbeat_s or now - self._last_beat < self.heartbeat_s:
                continue
            self._last_beat = now
            self._print(f"{self._stamp()} {self.line().partition('] ')[2]}")

    def close(self) -> None:
        self._stopped.set()
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._ticker is not None:
            self._ticker.join(timeout=2.0)
            self._ticker = None
