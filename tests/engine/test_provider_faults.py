"""How the engine meets a failing provider: retry what may pass, fail at once what will not, never guess weights."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from fleet.domain.machine import Phase
from fleet.domain.model import Weights
from fleet.engine import RetryPolicy
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment


def _retry_delays(fleet: Fleet) -> list[float]:
    return [float(m.group(1)) for n in fleet.notifier.notices if (m := re.search(r"retrying in ([\d.]+)s", n.message))]


def test_transient_failures_are_retried_with_growing_jittered_backoff_and_then_succeed(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.provisioner.transient_failures = 3
    policy = RetryPolicy(attempts=5, base_s=2.0, max_s=30.0, budget_s=600.0)
    started = fleet.clock.now()

    final = fleet.engine(LocalStateStore(tmp_path), retry=policy).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None and final.cutover.phase is Phase.DONE
    assert fleet.provisioner.calls[:4] == ["provision green"] * 4
    delays = _retry_delays(fleet)
    assert len(delays) == 3
    for attempt, delay in enumerate(delays, start=1):
        assert 1.0 <= delay <= min(policy.max_s, policy.base_s * 2**attempt) + 0.05  # retry_after is the floor
    assert fleet.clock.now() - started >= sum(delays)


def test_the_backoff_is_full_jitter_capped_by_the_maximum() -> None:
    policy = RetryPolicy(attempts=10, base_s=1.0, max_s=8.0)
    rng = random.Random(1)
    for attempt in range(1, 8):
        samples = [policy.delay(attempt, rng) for _ in range(200)]
        cap = min(policy.max_s, policy.base_s * 2**attempt)
        assert all(0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.8, "jitter spreads over the whole range"
        assert len(set(samples)) > 100


def test_retries_stop_after_the_attempts_and_the_cutover_halts_before_traffic_moves(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.provisioner.transient_failures = 10

    final = fleet.engine(LocalStateStore(tmp_path), retry=RetryPolicy(attempts=3, base_s=1.0)).cutover(
        environment(), NEW_VERSION
    )

    assert final.cutover is not None and final.cutover.phase is Phase.FAILED
    assert "gave up after 3 attempts" in (final.cutover.reason or "")
    assert fleet.provisioner.calls.count("provision green") == 3
    assert final.weights == Weights(100, 0)
    assert fleet.world.weights == {"blue": 100, "green": 0}


def test_retries_stop_when_the_time_budget_is_spent(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.provisioner.transient_failures = 10
    policy = RetryPolicy(attempts=100, base_s=50.0, max_s=50.0, budget_s=120.0)

    final = fleet.engine(LocalStateStore(tmp_path), retry=policy).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None and final.cutover.phase is Phase.FAILED
    attempts = fleet.provisioner.calls.count("provision green")
    assert attempts < 100
    assert sum(_retry_delays(fleet)[:-1]) < policy.budget_s


def test_a_permanent_error_fails_at_once_without_retrying(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.provisioner.fail_provision = 1

    final = fleet.engine(LocalStateStore(tmp_path)).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None and final.cutover.phase is Phase.FAILED
    assert fleet.provisioner.calls == ["provision green"]
    assert _retry_delays(fleet) == []
    assert "quota exceeded" in (final.cutover.reason or "")


def test_a_permanent_traffic_error_mid_shift_rolls_back_and_names_the_last_confirmed_weights(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.traffic.fail_at_weight = 50
    store = LocalStateStore(tmp_path)

    final = fleet.engine(store).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None and final.cutover.phase is Phase.ROLLED_BACK
    assert "SetWeights failed" in (final.cutover.reason or "")
    assert "weights stay at blue 75% / green 25%" in (final.cutover.reason or "")
    assert [w["green"] for w in fleet.world.weight_changes] == [10, 25, 0]
    failed = next(r for r in store.history("local") if r.event == "StepFailed")
    assert failed.weights == Weights(75, 25)


def test_when_even_the_rollback_cannot_move_traffic_the_weights_stay_at_the_last_confirmed_step(
    tmp_path: Path,
) -> None:
    fleet = Fleet()
    fleet.traffic.fail_at_weight = 100  # refuses green -> 100 and also blue -> 100 (the rollback)

    final = fleet.engine(LocalStateStore(tmp_path)).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None and final.cutover.phase is Phase.ROLLING_BACK
    assert final.weights == Weights(50, 50)
    assert fleet.world.weights == {"blue": 50, "green": 50}, "the state and the world agree"
    assert "rollback not confirmed" in (final.cutover.reason or "")

    fleet.traffic.fail_at_weight = None
    resumed = fleet.engine(LocalStateStore(tmp_path)).resume("local")
    assert resumed.cutover is not None and resumed.cutover.phase is Phase.ROLLED_BACK
    assert fleet.world.weights == {"blue": 100, "green": 0}


@pytest.mark.parametrize("throttled", [1, 3])
def test_a_throttled_traffic_provider_is_retried_without_skipping_or_repeating_a_step(
    tmp_path: Path, throttled: int
) -> None:
    fleet = Fleet()
    fleet.traffic.transient_failures = throttled

    final = fleet.engine(LocalStateStore(tmp_path)).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None and final.cutover.phase is Phase.DONE
    assert [w["green"] for w in fleet.world.weight_changes] == [10, 25, 50, 100]
