"""Waves over an in-memory fleet: parallel within a wave, gated by soak, stopped by a failure."""

from __future__ import annotations

from pathlib import Path

from fleet.domain.waves import WaveState, upgrade_due
from fleet.state.local import LocalStateStore
from fleet.upgrade.rollout import env_rows, matrix, run_rollout
from tests.upgrade_world import WorldRunner, env_config

WAVES = ["dev", "staging", "prod"]


def _fleet(tmp_path: Path) -> WorldRunner:
    names = {"dev-a": "dev", "dev-b": "dev", "stg-a": "staging", "stg-b": "staging", "stg-c": "staging",
             "prod-a": "prod", "prod-b": "prod"}
    configs = {n: env_config(n, w) for n, w in names.items()}
    return WorldRunner(configs, LocalStateStore(tmp_path))


def test_a_failure_in_the_middle_wave_stops_the_rollout_and_the_last_wave_never_starts(tmp_path: Path) -> None:
    world = _fleet(tmp_path)
    world.failing = {"stg-b"}

    done = run_rollout(lambda: world.read(WAVES), WAVES, world, soak_s=0.0, max_parallel=3)

    assert not any(e.startswith("prod") for e in world.started), "the last wave never starts"
    assert set(world.started) >= {"dev-a", "dev-b", "stg-b"}
    rows = {r["environment"]: r for r in env_rows(done)}
    assert (rows["dev-a"]["state"], rows["dev-a"]["from"], rows["dev-a"]["to"]) == ("DONE", "1.29", "1.30")
    assert rows["stg-b"]["state"] == "ROLLED_BACK" and "analysis failed" in str(rows["stg-b"]["note"])
    assert rows["prod-a"]["state"] == "not started" and "staging" in str(rows["prod-a"]["note"])
    states = {p.name: p.state for p in done.plans}
    assert states == {"dev": WaveState.DONE, "staging": WaveState.STOPPED, "prod": WaveState.WAITING}
    assert [r.env for r in done.failed] == ["stg-b"]
    for env in ("prod-a", "prod-b"):
        assert world.store.load(env) is None, "nothing of the last wave was touched"

    # A later pipeline run does not retry the failed environment on its own; the rollout stays stopped.
    world.failing = set()
    again = run_rollout(lambda: world.read(WAVES), WAVES, world, soak_s=0.0, max_parallel=3)
    assert not again.results and {p.name: p.state for p in again.plans}["prod"] is WaveState.WAITING


def test_waves_wait_for_the_soak_recorded_in_the_store_and_a_later_run_continues(tmp_path: Path) -> None:
    world = _fleet(tmp_path)
    day = 86400.0

    first = run_rollout(lambda: world.read(WAVES), WAVES, world, soak_s=day, max_parallel=2)

    assert sorted(first.results) == ["dev-a", "dev-b"]
    assert [p.state for p in first.plans] == [WaveState.SOAKING, WaveState.WAITING, WaveState.WAITING]
    waves = matrix(first.plans)
    assert waves[1]["ready"] is False and waves[1]["envs"] == ["stg-a", "stg-b", "stg-c"]

    world.now += day / 2  # a pipeline run half a day later: still soaking, nothing runs
    assert not run_rollout(lambda: world.read(WAVES), WAVES, world, soak_s=day, max_parallel=2).results

    world.now += day / 2 + 1
    second = run_rollout(lambda: world.read(WAVES), WAVES, world, soak_s=day, max_parallel=2)
    assert sorted(second.results) == ["stg-a", "stg-b", "stg-c"]

    world.now += day + 1
    third = run_rollout(lambda: world.read(WAVES), WAVES, world, soak_s=day, max_parallel=2)
    assert sorted(third.results) == ["prod-a", "prod-b"]
    views, at = world.read(WAVES)
    from fleet.domain.waves import plan_rollout

    assert not upgrade_due(plan_rollout(WAVES, views, at=at, soak_s=day))


def test_environments_outside_their_window_wait_and_now_overrides(tmp_path: Path) -> None:
    never_now = [{"days": ["mon"], "start": "03:00", "duration": "1h", "zone": "Pacific/Auckland"}]
    configs = {"dev-a": env_config("dev-a", "dev", windows=never_now)}
    world = WorldRunner(configs, LocalStateStore(tmp_path), now=1_767_225_600.0)  # a Thursday

    waiting = run_rollout(lambda: world.read(["dev"]), ["dev"], world, soak_s=0, max_parallel=1)
    assert not waiting.results
    (plan,) = waiting.plans[0].envs
    assert str(plan.action) == "outside-window" and "NZDT" in plan.reason

    forced = run_rollout(lambda: world.read(["dev"]), ["dev"], world, soak_s=0, max_parallel=1, now=True)
    assert forced.results["dev-a"].ok
