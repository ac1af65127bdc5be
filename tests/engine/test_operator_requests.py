"""`fleet rollback` while a pipeline's cutover holds the lock: the running cutover carries it out."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.domain.machine import Phase
from fleet.domain.model import Weights
from fleet.engine import RequestPending
from fleet.errors import StateError
from fleet.ports import Request
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment


def ask_to_roll_back_at(checkpoint: str, store: LocalStateStore, operator: Fleet, nth: int = 1) -> object:
    seen = {"count": 0}

    def hook(name: str) -> None:
        if name == checkpoint:
            seen["count"] += 1
            if seen["count"] == nth:
                with pytest.raises(RequestPending, match="asked the run of"):
                    operator.engine(store).rollback("local", reason="error budget burning", wait_s=0)

    return hook


def test_a_rollback_asked_while_another_run_holds_the_lock_is_carried_out_by_that_run(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    pipeline, operator = Fleet(), Fleet()
    hook = ask_to_roll_back_at("before:Analyse", store, operator, nth=2)

    final = pipeline.engine(store, checkpoint=hook).cutover(environment(), NEW_VERSION)  # type: ignore[arg-type]

    assert final.cutover is not None
    assert final.cutover.phase is Phase.ROLLED_BACK
    assert final.weights == Weights(blue=100, green=0)
    assert "error budget burning (asked by tester@test-host)" in (final.cutover.reason or "")
    assert pipeline.world.weights == {"blue": 100, "green": 0}
    assert not store.has_request("local")


def test_a_rollback_asked_during_an_analysis_window_does_not_wait_for_the_window_to_end(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    pipeline, operator = Fleet(), Fleet()
    asked_at: list[float] = []
    ask = ask_to_roll_back_at("before:Analyse", store, operator, nth=2)

    def hook(name: str) -> None:
        ask(name)  # type: ignore[operator]
        if name == "before:Analyse" and store.has_request("local") and not asked_at:
            asked_at.append(pipeline.clock.now())

    final = pipeline.engine(store, checkpoint=hook).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None
    assert final.cutover.phase is Phase.ROLLED_BACK
    window = final.cutover.rollout.analysis.window_s
    history = store.history("local")
    rolled_back = next(r for r in history if r.phase == "ROLLED_BACK")
    assert rolled_back.at - asked_at[0] <= 2.0 < window
    assert sum(r.event == "AnalysisCompleted" for r in history) == 1


class StoreThatFailsOnceARequestIsSeen(LocalStateStore):
    """A store that becomes unreachable for ``has_request`` right after it first reported a request."""

    seen = False

    def has_request(self, env: str) -> bool:
        if self.seen:
            raise StateError("the store is unreachable", file="requests")
        self.seen = super().has_request(env)
        return self.seen


def test_a_window_given_up_for_a_request_is_not_recorded_even_if_the_store_fails_right_after(
    tmp_path: Path,
) -> None:
    store = StoreThatFailsOnceARequestIsSeen(tmp_path)
    pipeline, operator = Fleet(), Fleet()
    hook = ask_to_roll_back_at("before:Analyse", store, operator, nth=2)

    final = pipeline.engine(store, checkpoint=hook).cutover(environment(), NEW_VERSION)  # type: ignore[arg-type]

    assert final.cutover is not None
    assert final.cutover.phase is Phase.ROLLED_BACK
    assert not [r for r in store.history("local") if "given up" in str(r.detail)]


def test_a_rollback_asked_during_the_bake_does_not_wait_for_the_bake_to_end(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    pipeline, operator = Fleet(), Fleet()
    hook = ask_to_roll_back_at("before:WaitUntil", store, operator)

    final = pipeline.engine(store, checkpoint=hook).cutover(environment(), NEW_VERSION)  # type: ignore[arg-type]

    assert final.cutover is not None and final.cutover.drained_at is not None
    assert final.cutover.phase is Phase.ROLLED_BACK
    assert pipeline.world.destroyed == {}
    assert pipeline.clock.now() < final.cutover.drained_at + final.cutover.teardown.bake_s


def test_a_request_left_from_an_earlier_cutover_does_not_touch_the_next_one(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    fleet = Fleet()
    store.post_request("local", Request("rollback", "stale", "someone@elsewhere", at=0.0))

    final = fleet.engine(store).cutover(environment(), NEW_VERSION)

    assert final.cutover is not None
    assert final.cutover.phase is Phase.DONE
    assert not store.has_request("local")


def test_a_rollback_once_teardown_began_is_refused_with_the_reason(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    pipeline, operator = Fleet(), Fleet()
    hook = ask_to_roll_back_at("before:DrainSlot", store, operator)

    final = pipeline.engine(store, checkpoint=hook).cutover(environment(), NEW_VERSION)  # type: ignore[arg-type]

    assert final.cutover is not None
    assert final.cutover.phase is Phase.DONE
    assert any("could not rollback" in n.message for n in pipeline.notifier.notices)
