"""The live progress display: what a cutover is doing, updated at least once a second, never looking hung.

On a terminal that is a ``rich`` live region, redrawn four times a second,
under the completed steps; in a pipeline's log (``CI=true`` or not a
terminal) plain timestamped lines, never wrapped, with a progress line every
``heartbeat_s`` during a long wait. rich is imported only when the live
region starts: ``fleet --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from fleet.cli.render import duration
from fleet.domain.machine import Analyse, AwaitHealthy, EnvironmentState, Phase, WaitUntil, pending
from fleet.ports import Notice


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
