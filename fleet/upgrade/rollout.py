"""``fleet upgrade``: read what the store and the configuration say, then run the ready wave.

The decisions (which version, which wave, soak, windows) are pure and live in
:mod:`fleet.domain.versions`, :mod:`fleet.domain.windows` and :mod:`fleet.domain.waves`;
this module gathers their inputs and carries them out. Each environment's cutover is
the engine as it is, run by a :class:`Runner`: in production one ``fleet upgrade ENV``
process per environment (:class:`ProcessRunner`), at most ``max_parallel`` at a time;
the state store's locks keep two runs of one environment apart. After a wave the plan
is read again from the store, so the soak gate is the store's, not this process's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

from fleet.config import EnvironmentConfig
from fleet.domain.machine import EnvironmentState
from fleet.domain.versions import flux_range, resolve
from fleet.domain.waves import Action, EnvPlan, EnvView, WavePlan, WaveState, plan_rollout
from fleet.domain.windows import current_opening, next_opening
from fleet.upgrade.settings import upgrade_settings
from fleet.upgrade.sources import SourceFactory, driver_source, offered

ALL = "all"
"""The one wave of a rollout run without ``--wave``."""


@dataclass(frozen=True)
class RunResult:
    env: str
    phase: str | None
    ok: bool
    message: str
    exit_code: int = 0


class Runner(Protocol):
    def run(self, plan: EnvPlan) -> RunResult: ...


@dataclass
class Rollout:
    """What one ``fleet upgrade`` saw and did."""

    plans: tuple[WavePlan, ...] = ()
    results: dict[str, RunResult] = field(default_factory=dict)
    started: dict[str, EnvPlan] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results.values() if not r.ok]


def view(
    config: EnvironmentConfig,
    state: EnvironmentState | None,
    *,
    at: float,
    waves: Sequence[str] | None,
    source: SourceFactory = driver_source,
) -> EnvView:
    """One environment as the rollout sees it: channel resolved, window, last cutover."""
    settings = upgrade_settings(config)
    policy = settings.policy if settings.policy.pin is not None else replace(settings.policy, pin=config.version)
    current = config.version
    if state is not None and state.active is not None:
        current = state.slot(state.active).version or current
    gitops = config.raw.get("gitops") or {}
    flux = flux_range(str(gitops.get("fluxVersion", "2.x")), settings.flux_kubernetes)
    resolution = resolve(current, policy, offered(config, settings, source).versions, flux)
    opening = current_opening(settings.windows, at)
    upcoming = next_opening(settings.windows, at)
    c = state.cutover if state is not None else None
    last = state.last if state is not None else None
    return EnvView(
        env=config.name,
        wave=(settings.wave or "") if waves else ALL,
        resolution=resolution,
        phase=c.phase.value if c is not None and c.in_flight else None,
        paused=bool(c is not None and c.in_flight and c.paused),
        halted=bool(c is not None and c.in_flight and (c.phase.value == "FAILED" or c.held or c.awaiting_confirmation)),
        last_outcome=None if last is None else last.outcome.value,
        last_at=None if last is None else last.at,
        last_target=c.target if c is not None and c.in_flight else (None if last is None else last.target),
        window_end=None if opening is None else opening.end,
        windows=bool(settings.windows),
        next_window=None if upcoming is None else upcoming.local(),
    )


def run_rollout(
    read: Callable[[], tuple[list[EnvView], float]],
    waves: Sequence[str],
    runner: Runner,
    *,
    soak_s: float,
    max_parallel: int,
    now: bool = False,
    retry_failed: bool = False,
) -> Rollout:
    """Run ready waves one after the other until one is not ready, soaks, or fails."""
    done = Rollout()
    while True:
        views, at = read()
        done.plans = plan_rollout(waves, views, at=at, soak_s=soak_s, now=now, retry_failed=retry_failed)
        ready = next((p for p in done.plans if p.state is WaveState.READY), None)
        if ready is None or done.failed:
            return done
        todo = [e for e in ready.runnable if e.env not in done.results]
        if not todo:
            return done
        done.started.update((e.env, e) for e in todo)
        for result in _run_wave(runner, todo, max_parallel):
            done.results[result.env] = result
        retry_failed = False  # a retried environment is retried once per run
        if done.failed:
            views, at = read()
            done.plans = plan_rollout(waves, views, at=at, soak_s=soak_s, now=now)
            return done


def _run_wave(runner: Runner, todo: Sequence[EnvPlan], max_parallel: int) -> list[RunResult]:
    """Run ``todo`` at most ``max_parallel`` at a time; after a failure, start no more of them."""
    stop = threading.Event()

    def one(plan: EnvPlan) -> RunResult:
        if stop.is_set():
            return RunResult(plan.env, None, False, "not started: an earlier failure stopped the wave", 1)
        result = runner.run(plan)
        if not result.ok:
            stop.set()
        return result

    with ThreadPoolExecutor(max_workers=max(1, max_parallel), thread_name_prefix="fleet-upgrade") as pool:
        return list(pool.map(one, todo))


class ProcessRunner:
    """One ``fleet upgrade ENV`` process per environment: the engine as it is, in a process of its own."""

    def __init__(self, *, state: str | None, now: bool, yes: bool, project: str | None = None) -> None:
        self.state = state
        self.now = now
        self.yes = yes
        self.project = project
        self._lock = threading.Lock()
        self._children: dict[int, subprocess.Popen[str]] = {}

    def command(self, env: str) -> list[str]:
        argv = [sys.executable, "-m", "fleet"]
        if self.project:
            argv += ["--project", self.project]
        argv += ["upgrade", env, "--output", "json"]
        argv += ["--now"] if self.now else []
        argv += ["--yes"] if self.yes else []
        argv += ["--state", self.state] if self.state else []
        return argv

    def run(self, plan: EnvPlan) -> RunResult:
        proc = subprocess.Popen(self.command(plan.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with self._lock:
            self._children[proc.pid] = proc
        try:
            out, err = proc.communicate()
        finally:
            with self._lock:
                self._children.pop(proc.pid, None)
        try:
            rows = json.loads(out)["environments"]
            row = next(r for r in rows if r["environment"] == plan.env)
            return RunResult(plan.env, str(row["state"]), proc.returncode == 0, str(row["note"]), proc.returncode)
        except (ValueError, KeyError, StopIteration, TypeError):
            last = (err.strip().splitlines() or ["no output"])[-1]
            return RunResult(plan.env, None, proc.returncode == 0, last, proc.returncode)

    def stop(self) -> None:
        """Terminate the children still running (this run was interrupted), each by its own PID."""
        with self._lock:
            children = list(self._children.values())
        for proc in children:
            proc.terminate()
        for proc in children:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def env_rows(rollout: Rollout) -> list[dict[str, object]]:
    """Where each environment was left: its wave, versions, what was done and what it says."""
    rows: list[dict[str, object]] = []
    for wave in rollout.plans:
        for e in wave.envs:
            result = rollout.results.get(e.env)
            e = rollout.started.get(e.env, e)  # noqa: PLW2901  (what was run, not what is left)
            if result is not None:
                state = result.phase or ("ok" if result.ok else "failed")
                note = result.message.splitlines()[0] if result.message else ""
            elif wave.state is WaveState.WAITING and e.action in (Action.UPGRADE, Action.RESUME):
                state, note = "not started", wave.reason
            else:
                state, note = str(e.action), e.reason
            rows.append({
                "wave": wave.name, "environment": e.env, "from": str(e.current),
                "to": "" if e.target is None else str(e.target), "state": state, "note": note,
            })
    for env, why in rollout.excluded.items():
        rows.append({"wave": "", "environment": env, "from": "", "to": "", "state": "excluded", "note": why})
    return rows


def matrix(plans: Sequence[WavePlan]) -> list[dict[str, object]]:
    """Per wave, the environments due, in the form a CI matrix takes (``strategy.matrix: fromJSON(...)``)."""
    out: list[dict[str, object]] = []
    for p in plans:
        due = [e for e in p.envs if e.action in (Action.UPGRADE, Action.RESUME)]
        out.append({
            "wave": p.name,
            "state": str(p.state),
            "reason": p.reason,
            "ready": p.state is WaveState.READY,
            "soaked_at": p.soaked_at,
            "envs": [e.env for e in due],
            "outside_window": [e.env for e in p.envs if e.action is Action.OUTSIDE_WINDOW],
            "matrix": {"include": [{"env": e.env, "to": "" if e.target is None else str(e.target)} for e in due]},
        })
    return out
