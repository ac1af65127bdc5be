"""The wave gate, decided from records alone: no wave starts while an earlier one is unfinished or soaking."""

from __future__ import annotations

import random

from fleet.domain.model import Version
from fleet.domain.versions import Resolution
from fleet.domain.waves import Action, EnvView, WaveState, plan_rollout, upgrade_due

OLD, NEW = Version(1, 29), Version(1, 30)
WAVES = ["dev", "staging", "prod"]


def due(env: str, wave: str, **kw: object) -> EnvView:
    return EnvView(env, wave, Resolution(OLD, NEW, "next minor"), **kw)  # type: ignore[arg-type]


def current(env: str, wave: str, **kw: object) -> EnvView:
    return EnvView(env, wave, Resolution(NEW, None, "current"), **kw)  # type: ignore[arg-type]


def test_a_halted_cutover_stops_the_rollout_and_counts_as_not_current() -> None:
    views = [current("d", "dev", last_outcome="DONE", last_at=0.0),
             due("s", "staging", phase="FAILED", halted=True, last_target=NEW), due("p", "prod")]
    plans = plan_rollout(WAVES, views, at=10.0, soak_s=0.0)
    assert [p.state for p in plans] == [WaveState.DONE, WaveState.STOPPED, WaveState.WAITING]
    assert plans[1].envs[0].action is Action.FAILED and upgrade_due(plans)


def test_a_cutover_running_elsewhere_holds_the_next_wave_without_failing() -> None:
    plans = plan_rollout(WAVES, [due("d", "dev", phase="SHIFT"), due("s", "staging")], at=0.0, soak_s=0.0)
    assert [p.state for p in plans[:2]] == [WaveState.WAITING, WaveState.WAITING]
    assert plans[0].envs[0].action is Action.IN_FLIGHT


def test_blocked_channels_are_reported_and_do_not_hold_the_rollout() -> None:
    blocked = EnvView("d", "dev", Resolution(OLD, None, "pinned two minors ahead", blocked=True))
    plans = plan_rollout(WAVES, [blocked, due("s", "staging")], at=0.0, soak_s=0.0)
    assert plans[0].state is WaveState.DONE and plans[1].state is WaveState.READY


def test_property_a_wave_is_ready_only_when_every_earlier_wave_is_current_and_soaked() -> None:
    rng = random.Random(18)
    soak = 100.0
    for _ in range(3000):
        views = []
        for i in range(rng.randint(1, 9)):
            wave = rng.choice(WAVES)
            kind = rng.choice(["current", "due", "flight", "failed", "window"])
            done_at = rng.uniform(0, 300) if rng.random() < 0.7 else None
            outcome = "DONE" if done_at is not None else None
            if kind == "current":
                views.append(current(f"e{i}", wave, last_outcome=outcome, last_at=done_at))
            elif kind == "due":
                views.append(due(f"e{i}", wave))
            elif kind == "flight":
                views.append(due(f"e{i}", wave, phase="SHIFT", paused=rng.random() < 0.5, windows=True))
            elif kind == "failed":
                views.append(due(f"e{i}", wave, last_outcome="ROLLED_BACK", last_at=1.0, last_target=NEW))
            else:
                views.append(due(f"e{i}", wave, windows=True, next_window="sat"))
        at = rng.uniform(0, 400)
        plans = plan_rollout(WAVES, views, at=at, soak_s=soak)
        for k, plan in enumerate(plans):
            if plan.state is not WaveState.READY:
                continue
            for earlier in plans[:k]:
                assert all(e.action in (Action.CURRENT, Action.BLOCKED) for e in earlier.envs), plans
                ended = [v.last_at for v in views if v.wave == earlier.name and v.last_outcome == "DONE"]
                assert not ended or max(ended) + soak <= at  # type: ignore[type-var]
            assert all(p.state is WaveState.WAITING for p in plans[k + 1:])
