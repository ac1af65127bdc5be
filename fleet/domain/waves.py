"""Which environments a rollout may change now: waves in order, each after the last one soaked.

A rollout is recomputed from the state store's records every time it is asked, never
remembered: a pipeline run that ends while a wave soaks is continued by the next run,
and CI jobs that ran on other runners count as if this process had run them.

Per wave, in order:

* a wave is **ready** when every earlier wave is finished and soaked; its environments
  behind their channel (and inside a maintenance window, unless ``now``) are upgraded,
  those held by a window closing are resumed;
* a wave is **finished** when none of its environments is due, in flight or failed; it
  has **soaked** ``soak_s`` after the last of its cutovers ended DONE;
* an environment whose last cutover to the very target it is due for did not end DONE
  is **failed**: the rollout stops there until a person looks (naming the environment
  in ``fleet upgrade ENV`` retries it);
* an environment whose channel is **blocked** (a skipped minor, Flux's range) is reported
  and does not hold the rollout: its configuration, not its cluster, needs a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from fleet.domain.model import Version
from fleet.domain.versions import Resolution


class Action(StrEnum):
    UPGRADE = "upgrade"
    RESUME = "resume"
    CURRENT = "current"
    BLOCKED = "blocked"
    FAILED = "failed"
    IN_FLIGHT = "in-flight"
    OUTSIDE_WINDOW = "outside-window"


DUE = frozenset({Action.UPGRADE, Action.RESUME, Action.OUTSIDE_WINDOW, Action.FAILED, Action.IN_FLIGHT})
"""Not current: what ``--dry-run`` exits 1 for (a blocked channel needs its configuration changed instead)."""


class WaveState(StrEnum):
    DONE = "done"
    SOAKING = "soaking"
    READY = "ready"
    WAITING = "waiting"
    STOPPED = "stopped"


@dataclass(frozen=True)
class EnvView:
    """What the store and the configuration say about one environment."""

    env: str
    wave: str
    resolution: Resolution
    phase: str | None = None
    """The phase of a cutover in flight; None when idle."""
    paused: bool = False
    """In flight, held by a maintenance window's end."""
    halted: bool = False
    """In flight and stopped for a person: FAILED, held for drift, or waiting for a teardown confirmation."""
    last_outcome: str | None = None
    last_at: float | None = None
    last_target: Version | None = None
    window_end: float | None = None
    """The end of the maintenance window open now; None when none is open (or none is configured)."""
    windows: bool = False
    """Whether the environment has maintenance windows at all."""
    next_window: str | None = None


@dataclass(frozen=True)
class EnvPlan:
    env: str
    wave: str
    current: Version
    target: Version | None
    action: Action
    reason: str
    window_end: float | None = None


@dataclass(frozen=True)
class WavePlan:
    name: str
    envs: tuple[EnvPlan, ...]
    state: WaveState
    reason: str
    soaked_at: float | None = None

    @property
    def runnable(self) -> tuple[EnvPlan, ...]:
        return tuple(e for e in self.envs if e.action in (Action.UPGRADE, Action.RESUME))


def _env_plan(v: EnvView, now: bool, retry_failed: bool) -> EnvPlan:
    r = v.resolution
    target = r.target
    window_open = v.window_end is not None or not v.windows or now
    end = None if now else v.window_end
    outside = f"outside its maintenance windows; next: {v.next_window}"
    if v.phase is not None:
        if v.halted:
            why = f"cutover halted in {v.phase}: fleet status {v.env}, then fleet resume or abort"
            return EnvPlan(v.env, v.wave, r.current, v.last_target, Action.FAILED, why)
        if not v.paused:
            return EnvPlan(v.env, v.wave, r.current, v.last_target, Action.IN_FLIGHT, f"cutover in flight ({v.phase})")
        if window_open:
            return EnvPlan(v.env, v.wave, r.current, v.last_target, Action.RESUME, "held by a window; resumed", end)
        return EnvPlan(v.env, v.wave, r.current, v.last_target, Action.OUTSIDE_WINDOW, "held by a window; " + outside)
    if r.blocked:
        return EnvPlan(v.env, v.wave, r.current, None, Action.BLOCKED, r.reason)
    if target is None:
        return EnvPlan(v.env, v.wave, r.current, None, Action.CURRENT, r.reason)
    if v.last_outcome not in (None, "DONE") and v.last_target == target and not retry_failed:
        why = f"the last cutover to {target} ended {v.last_outcome}; fleet upgrade {v.env} retries it"
        return EnvPlan(v.env, v.wave, r.current, target, Action.FAILED, why)
    if not window_open:
        return EnvPlan(v.env, v.wave, r.current, target, Action.OUTSIDE_WINDOW, outside)
    return EnvPlan(v.env, v.wave, r.current, target, Action.UPGRADE, r.reason, end)


def plan_rollout(
    waves: Sequence[str],
    views: Sequence[EnvView],
    *,
    at: float,
    soak_s: float,
    now: bool = False,
    retry_failed: bool = False,
) -> tuple[WavePlan, ...]:
    """Every wave's environments and whether the wave may run at ``at``."""
    plans: list[WavePlan] = []
    gate: str | None = None
    for name in waves:
        members = [v for v in views if v.wave == name]
        envs = tuple(_env_plan(v, now, retry_failed) for v in members)
        actions = {e.action for e in envs}
        if gate is not None:
            plans.append(WavePlan(name, envs, WaveState.WAITING, gate))
            continue
        if Action.FAILED in actions:
            failed = ", ".join(e.env for e in envs if e.action is Action.FAILED)
            plans.append(WavePlan(name, envs, WaveState.STOPPED, f"failed: {failed}"))
            gate = f"wave {name} stopped ({failed} failed)"
        elif actions & {Action.UPGRADE, Action.RESUME}:
            plans.append(WavePlan(name, envs, WaveState.READY, "ready"))
            gate = f"wave {name} runs first"
        elif actions & {Action.IN_FLIGHT, Action.OUTSIDE_WINDOW}:
            left = ", ".join(f"{e.env} ({e.action})" for e in envs if e.action in (Action.IN_FLIGHT,
                                                                                   Action.OUTSIDE_WINDOW))
            plans.append(WavePlan(name, envs, WaveState.WAITING, f"not finished: {left}"))
            gate = f"wave {name} is not finished"
        else:
            ended = [v.last_at for v in members if v.last_outcome == "DONE" and v.last_at is not None]
            soaked = max(ended) + soak_s if ended else None
            if soaked is not None and at < soaked:
                plans.append(WavePlan(name, envs, WaveState.SOAKING, f"soaking until {soaked:.0f}", soaked))
                gate = f"wave {name} soaks until {soaked:.0f}"
            else:
                plans.append(WavePlan(name, envs, WaveState.DONE, "done", soaked))
    return tuple(plans)


def upgrade_due(plans: Sequence[WavePlan]) -> bool:
    """Whether any environment is behind its channel (for ``--dry-run``'s exit code)."""
    return any(e.action in DUE for p in plans for e in p.envs)
