"""``fleet:singletons.handoffAt``: read with the rest of an environment's configuration, checked, defaulted."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config import load_environment
from fleet.errors import ConfigError


def _project(root: Path, extra: str) -> Path:
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: fleet\n")
    (root / "stacks" / "Pulumi.local.yaml").write_text(
        "config:\n  fleet:cluster: {driver: kind, version: \"1.29\"}\n  fleet:traffic: {provider: haproxy}\n" + extra
    )
    return root


def test_the_handoff_defaults_to_the_last_step(tmp_path: Path) -> None:
    assert load_environment(_project(tmp_path, ""), "local").rollout.handoff_at == 100


def test_the_handoff_point_is_read(tmp_path: Path) -> None:
    config = load_environment(_project(tmp_path, "  fleet:singletons: {handoffAt: 50}\n"), "local")
    assert config.rollout.handoff_at == 50


@pytest.mark.parametrize("value", ["0", "101", "true", "'half'", "12.5"])
def test_a_handoff_point_that_is_not_a_percentage_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"singletons\.handoffAt"):
        load_environment(_project(tmp_path, f"  fleet:singletons: {{handoffAt: {value}}}\n"), "local")


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"singletons\.handoff"):
        load_environment(_project(tmp_path, "  fleet:singletons: {handoff: 50}\n"), "local")


def test_the_stage_and_the_point_survive_the_state_file() -> None:
    from dataclasses import replace

    from fleet.domain.cutover import Handoff
    from fleet.domain.machine import CutoverRequested, EnvironmentState, transition
    from fleet.domain.model import RolloutPolicy, TeardownPolicy, Version
    from fleet.state.codec import dump_state, load_state

    state = EnvironmentState.seed("local", Version(1, 29))
    start = CutoverRequested(at=1.0, id="c1", target=Version(1, 30), rollout=RolloutPolicy(handoff_at=25),
                             teardown=TeardownPolicy())
    state = transition(state, start).state
    assert state.cutover is not None
    state = replace(state, cutover=replace(state.cutover, handoff=Handoff.OLD_STOPPED))
    back = load_state(dump_state(state), file="state.json")
    assert back.cutover is not None
    assert back.cutover.handoff is Handoff.OLD_STOPPED and back.cutover.rollout.handoff_at == 25
