"""fleet's entries in a Kustomization's patches, and which slots are born held, without a cluster."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fleet.domain.cutover import Handoff
from fleet.domain.hold_patches import (
    applied_children,
    born_held,
    carry_entry,
    children_entry,
    hold_patches,
    is_ours,
    kind_of,
    not_named,
    settled,
    unsettled,
    with_hold,
)
from fleet.domain.machine import CutoverRequested, EnvironmentState, transition
from fleet.domain.model import RolloutPolicy, SlotName, TeardownPolicy, Version
from fleet.domain.singletons import born_held as born_held_slots

OWN = {"target": {"kind": "ConfigMap"}, "patch": '[{"op": "add", "path": "/data/x", "value": "1"}]'}
NAMES = st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True)


@given(holder=NAMES, other=NAMES)
def test_the_children_entry_matches_every_name_but_its_holders(holder: str, other: str) -> None:
    pattern = re.compile(f"^(?:{not_named(holder)})$")  # as kustomize anchors it
    assert pattern.match(holder) is None
    assert (pattern.match(other) is not None) == (other != holder)


def test_the_children_entry_suspends_kustomizations_and_is_fleets() -> None:
    entry = children_entry("flux-system")
    assert entry["target"]["kind"] == "Kustomization" and kind_of(entry) == "children"
    (op,) = yaml.safe_load(entry["patch"])
    assert op == {"op": "add", "path": "/spec/suspend", "value": True}


def test_holding_keeps_the_born_held_structure_and_releasing_removes_everything_of_fleets() -> None:
    root = [OWN, *born_held("flux-system")]
    assert with_hold(root, hold=True) == root, "a born-held root is not written again"
    assert with_hold(root, hold=False) == [OWN]
    carried = [OWN, *hold_patches(), carry_entry("apps", "flux-system", [])]
    assert with_hold(carried, hold=True) == carried and with_hold(carried, hold=False) == [OWN]
    assert with_hold([OWN], hold=True) == [OWN, *hold_patches()]


def test_a_child_without_patches_gets_them_all_and_one_with_its_own_gets_them_appended() -> None:
    (bare,) = json.loads(carry_entry("apps", "flux-system", [])["patch"].split("\n", 1)[1])
    assert bare == {"op": "add", "path": "/spec/patches", "value": born_held("apps")}
    entry = carry_entry("patched", "flux-system", [OWN, *hold_patches()])
    ops = yaml.safe_load(entry["patch"])
    assert [op["path"] for op in ops] == ["/spec/patches/-"] * len(born_held("patched"))
    assert [op["value"] for op in ops] == born_held("patched")
    assert entry["target"]["name"] == "patched" and kind_of(entry) == "carry" and is_ours(entry)


def _ks(name: str, patches: list[dict[str, Any]], *, generation: int = 1, observed: int = 0,
        inventory: list[str] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": observed}
    if inventory is not None:
        status["inventory"] = {"entries": [{"id": i, "v": "v1"} for i in inventory]}
    return {"metadata": {"name": name, "namespace": "flux-system", "generation": generation},
            "spec": {"patches": patches}, "status": status}


def test_a_parent_settles_its_children_once_it_has_applied_its_current_spec() -> None:
    kid = "flux-system_{}_kustomize.toolkit.fluxcd.io_Kustomization"
    apps, patched = _ks("apps", []), _ks("patched", [OWN])
    root = _ks("flux-system", born_held("flux-system"), generation=2, observed=1,
               inventory=[kid.format("flux-system"), kid.format("apps"), "jobs_billing_batch_CronJob"])
    items = [root, apps, patched]
    assert unsettled(items) == [root]
    assert applied_children(root, items) is None, "not yet applied at its current generation"
    root["status"]["observedGeneration"] = 2
    assert applied_children(root, items) == [apps], "itself and what it did not apply are not its children"
    after = settled(root, [apps])
    assert [kind_of(p) for p in after] == ["hold"] * 3 + ["carry"]
    root["spec"]["patches"], root["metadata"]["generation"] = after, 3
    assert unsettled([root]) == [root], "waits until the parent has applied its children's hold"
    root["status"]["observedGeneration"] = 3
    assert unsettled([root]) == []


def _state(handoff_at: int | None = 100) -> EnvironmentState:
    state = EnvironmentState.seed("e", Version(1, 29))
    start = CutoverRequested(at=0.0, id="c", target=Version(1, 30), rollout=RolloutPolicy(handoff_at=handoff_at),
                             teardown=TeardownPolicy(confirm=False))
    return transition(state, start).state


@pytest.mark.parametrize("stage", list(Handoff))
def test_the_new_slot_is_born_held_until_the_handoff_releases_it(stage: Handoff) -> None:
    state = _state()
    assert state.cutover is not None
    staged = replace(state, cutover=replace(state.cutover, handoff=stage))
    expected = frozenset() if stage is Handoff.HANDED else frozenset({SlotName.GREEN})
    assert born_held_slots(staged) == expected
    assert born_held_slots(EnvironmentState.seed("e", Version(1, 29))) == frozenset()
    assert born_held_slots(_state(handoff_at=None)) == frozenset(), "an environment that hands nothing over"
