"""Which slots the program builds: FLEET_LAYOUT, else fleet's store, else a seeded blue slot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet.domain.model import Role, SlotName, SlotState, Version
from fleet.errors import ConfigError
from fleet.infra.layout import LAYOUT_ENV, decode_layout, encode_layout, project_root, resolve_plan
from fleet.ports import Layout

V129 = Version.parse("1.29")


def never_called(env: str, location: str) -> Layout | None:
    raise AssertionError("the store must not be read when FLEET_LAYOUT is set")


def test_fleet_layout_from_the_adapter_wins_over_the_store() -> None:
    text = json.dumps(
        {
            "env": "staging",
            "slots": {
                "blue": {"role": "active", "version": "1.29", "bootstrap": True},
                "green": {"role": "standby", "version": "1.30", "bootstrap": False},
            },
        }
    )
    plan = resolve_plan("staging", V129, environ={LAYOUT_ENV: text}, load=never_called)
    assert plan.source == LAYOUT_ENV
    green = plan.get(SlotName.GREEN)
    assert green is not None and green.version == Version(1, 30) and not green.bootstrap


def test_a_layout_for_another_environment_is_refused() -> None:
    text = json.dumps({"env": "prod", "slots": {}})
    with pytest.raises(ConfigError, match="prod"):
        decode_layout(text, env="staging", default_version=V129)


def test_two_active_slots_are_refused() -> None:
    slots = {"blue": {"role": "active"}, "green": {"role": "active"}}
    with pytest.raises(ConfigError, match="both active"):
        decode_layout(json.dumps({"env": "e", "slots": slots}), env="e", default_version=V129)


def test_a_hand_run_reads_the_layout_from_fleets_store_at_the_configured_location() -> None:
    asked: list[tuple[str, str]] = []

    def store(env: str, location: str) -> Layout:
        asked.append((env, location))
        return Layout(
            env, {SlotName.GREEN: SlotState(Role.ACTIVE, Version(1, 30)), SlotName.BLUE: SlotState(Role.ABSENT)}
        )

    plan = resolve_plan("staging", V129, environ={"FLEET_STATE": "/srv/fleet"}, load=store)
    assert asked == [("staging", "/srv/fleet")]
    assert plan.source == "store"
    assert [(s.slot, s.role, s.version) for s in plan.slots] == [(SlotName.GREEN, Role.ACTIVE, Version(1, 30))]


def test_the_fleet_state_config_key_beats_the_environment_variable() -> None:
    asked: list[str] = []
    resolve_plan(
        "e", V129, environ={"FLEET_STATE": "/env"}, state_location="s3://b/p", load=lambda e, loc: asked.append(loc)
    )
    assert asked == ["s3://b/p"]


def test_a_torn_down_slot_is_not_resurrected_by_a_hand_run() -> None:
    layout = Layout("e", {SlotName.BLUE: SlotState(Role.ACTIVE, V129), SlotName.GREEN: SlotState(Role.ABSENT)})
    plan = resolve_plan("e", V129, environ={}, load=lambda e, loc: layout)
    assert plan.get(SlotName.GREEN) is None


def test_with_nothing_recorded_blue_is_seeded_active_at_the_configured_version() -> None:
    plan = resolve_plan("new", Version(1, 31), environ={}, load=lambda e, loc: None, previous=lambda e: frozenset())
    assert plan.source == "seed"
    assert [(s.slot, s.role, s.version, s.bootstrap) for s in plan.slots] == [
        (SlotName.BLUE, Role.ACTIVE, Version(1, 31), True)
    ]


def test_the_default_store_location_is_dot_fleet_state_in_the_project_root(tmp_path: Path) -> None:
    asked: list[str] = []
    resolve_plan(
        "e", V129, environ={}, load=lambda e, loc: asked.append(loc), root=tmp_path, previous=lambda e: frozenset()
    )
    assert asked == [str(tmp_path / ".fleet/state")]


@pytest.mark.parametrize("where", [".", "fleet/infra", "fleet/infra/deeper"])
def test_the_store_is_found_from_the_project_root_wherever_the_program_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\nruntime: python\nmain: fleet/infra/\n")
    (tmp_path / where).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path / where)
    asked: list[str] = []

    def store(env: str, location: str) -> Layout:
        asked.append(location)
        return Layout(env, {SlotName.GREEN: SlotState(Role.ACTIVE, Version(1, 30))})

    resolve_plan("e", V129, environ={"FLEET_STATE": "shared/state"}, load=store)
    assert project_root() == tmp_path
    assert asked == [str(tmp_path / "shared/state")]


def test_with_nothing_recorded_but_slots_in_the_stack_seeding_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".fleet/state").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"has no record of 'e', but the stack has slots \(green\)"):
        resolve_plan(
            "e", V129, environ={}, load=lambda e, loc: None, root=tmp_path,
            previous=lambda e: frozenset({SlotName.GREEN}),
        )


def test_a_missing_store_is_not_a_brand_new_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_plan("e", V129, environ={}, load=lambda e, loc: None, root=tmp_path, previous=lambda e: None)
    (tmp_path / ".fleet/state").mkdir(parents=True)
    plan = resolve_plan("e", V129, environ={}, load=lambda e, loc: None, root=tmp_path, previous=lambda e: None)
    assert plan.source == "seed"


def test_what_the_adapter_encodes_the_program_decodes() -> None:
    layout = Layout(
        "e",
        {
            SlotName.BLUE: SlotState(Role.ACTIVE, Version(1, 29)),
            SlotName.GREEN: SlotState(Role.STANDBY, Version(1, 30, 2)),
        },
    )
    plan = decode_layout(encode_layout(layout, {SlotName.BLUE: True}), env="e", default_version=V129)
    assert [(s.slot, s.role, s.version, s.bootstrap) for s in plan.slots] == [
        (SlotName.BLUE, Role.ACTIVE, Version(1, 29), True),
        (SlotName.GREEN, Role.STANDBY, Version(1, 30, 2), False),
    ]


def test_the_born_held_slots_travel_with_the_layout_both_ways() -> None:
    slots = {SlotName.BLUE: SlotState(Role.ACTIVE, Version(1, 29)), SlotName.GREEN: SlotState(Role.STANDBY)}
    layout = Layout("e", slots, held=frozenset({SlotName.GREEN}))
    text = encode_layout(layout, {SlotName.BLUE: True, SlotName.GREEN: True})
    assert json.loads(text)["slots"]["green"]["holdSingletons"] is True
    assert "holdSingletons" not in json.loads(text)["slots"]["blue"]
    by_fleet = decode_layout(text, env="e", default_version=V129)
    by_hand = resolve_plan("e", V129, environ={}, load=lambda e, loc: layout, root=Path("/nowhere"))
    assert [(s.slot, s.hold_singletons) for s in by_fleet.slots] == [(s.slot, s.hold_singletons) for s in by_hand.slots]
    assert [s.hold_singletons for s in by_hand.slots] == [False, True]
    with pytest.raises(ConfigError, match="holdSingletons"):
        decode_layout('{"env": "e", "slots": {"green": {"role": "standby", "holdSingletons": "yes"}}}',
                      env="e", default_version=V129)
