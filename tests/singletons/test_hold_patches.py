"""fleet's entries in a Kustomization's patches, and which slots are born held, without a cluster."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fleet.domain.cutover import Handoff
from fleet.domain.hold_patches import (
    born_held,
    carry_entry,
    children_entry,
    hold_patches,
    instance_entry,
    is_ours,
    kind_of,
    not_named,
    with_hold,
)
from fleet.domain.hold_tree import instance_spec, rewrites, waiting
from fleet.domain.machine import CutoverRequested, EnvironmentState, transition
from fleet.domain.model import RolloutPolicy, SlotName, TeardownPolicy, Version
from fleet.domain.singletons import born_held as born_held_slots
from fleet.ports import Record
from fleet.state import load_layout
from fleet.state.local import LocalStateStore

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
    carried = [OWN, *hold_patches(), carry_entry("apps", "flux-system", [], hold_patches())]
    assert with_hold(carried, hold=True) == carried and with_hold(carried, hold=False) == [OWN]
    assert with_hold([OWN], hold=True) == [OWN, *hold_patches()]


def test_a_child_without_patches_gets_them_all_and_one_with_its_own_gets_them_appended() -> None:
    (bare,) = json.loads(carry_entry("apps", "flux-system", [], born_held("apps"))["patch"].split("\n", 1)[1])
    assert bare == {"op": "add", "path": "/spec/patches", "value": born_held("apps")}
    entry = carry_entry("patched", "flux-system", [OWN, *hold_patches()], hold_patches())
    ops = yaml.safe_load(entry["patch"])
    assert [op["path"] for op in ops] == ["/spec/patches/-"] * 3 and [op["value"] for op in ops] == hold_patches()
    assert entry["target"]["name"] == "patched" and kind_of(entry) == "carry" and is_ours(entry)


KID = "flux-system_{}_kustomize.toolkit.fluxcd.io_Kustomization"


def _ks(name: str, patches: list[dict[str, Any]], *, generation: int = 1, observed: int = 0,
        inventory: list[str] | None = None, suspend: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": observed}
    if inventory is not None:
        status["inventory"] = {"entries": [{"id": KID.format(i), "v": "v1"} for i in inventory]}
    return {"metadata": {"name": name, "namespace": "flux-system", "generation": generation},
            "spec": {"patches": patches, "suspend": suspend}, "status": status}


def _carried(patches: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What each carry entry in ``patches`` gives its child: name -> the entries."""
    out = {}
    for p in patches:
        if kind_of(p) == "carry":
            ops = yaml.safe_load(p["patch"])
            whole = ops[0]["path"] == "/spec/patches"
            out[p["target"]["name"]] = ops[0]["value"] if whole else [o["value"] for o in ops]
    return out


def test_a_born_held_root_settles_level_by_level_as_each_level_applies() -> None:
    root = _ks("flux-system", born_held("flux-system"), generation=1)
    apps = _ks("apps", [], suspend=True)
    assert rewrites([root]) == [], "not applied yet: the root as Pulumi created it is what the tree needs"
    assert waiting([root, apps]) == ["flux-system/flux-system"]
    root["status"] = {"observedGeneration": 1, "inventory": {"entries": [
        {"id": KID.format(n), "v": "v1"} for n in ("flux-system", "apps")]}}
    ((top, patches),) = rewrites([root, apps])
    assert top is root and [kind_of(p) for p in patches] == ["hold"] * 3 + ["carry"]
    assert _carried(patches) == {"apps": born_held("apps")}, "the child is unsuspended holding, its own children not"
    root["spec"]["patches"], root["metadata"]["generation"] = patches, 2
    assert waiting([root, apps]) == ["flux-system/flux-system"], "until the root has applied its children's hold"
    root["status"]["observedGeneration"] = 2
    apps.update(_ks("apps", born_held("apps"), generation=2, observed=1))
    assert waiting([root, apps]) == ["flux-system/apps"]
    apps.update(_ks("apps", born_held("apps"), generation=2, observed=2, inventory=["nested"]))
    nested = _ks("nested", [], suspend=True)
    ((_, patches),) = rewrites([root, apps, nested])
    assert _carried(_carried(patches)["apps"]) == {"nested": born_held("nested")}, "carried two levels down"


def test_an_applied_tree_carries_the_hold_to_every_child_and_waits_for_each_to_apply_it() -> None:
    root = _ks("flux-system", [], observed=1, inventory=["flux-system", "apps", "patched"])
    apps, patched = _ks("apps", [], observed=1, inventory=[]), _ks("patched", [OWN], observed=1, inventory=[])
    ((_, patches),) = rewrites([root, apps, patched])
    assert _carried(patches) == {"apps": hold_patches(), "patched": hold_patches()}
    assert yaml.safe_load(patches[-1]["patch"])[0]["path"] == "/spec/patches/-", "Git's own patches are kept"
    root.update(_ks("flux-system", patches, generation=2, observed=1, inventory=["flux-system", "apps"]))
    assert waiting([root]) == ["flux-system/flux-system"], "until the parent has applied its children's hold"
    root["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "HealthCheckFailed",
                                     "observedGeneration": 2}]
    assert waiting([root]) == [], "applied, then failed its health checks: its children have the hold"
    assert waiting([_ks("apps", hold_patches(), generation=2, observed=1)]) == ["flux-system/apps"]
    assert waiting([_ks("user-suspended", born_held("user-suspended"), generation=2, suspend=True)]) == []


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


def test_the_flux_instance_follows_fleets_entries_on_the_sync_kustomization_and_loses_them_at_the_release() -> None:
    own = {"target": {"kind": "Kustomization", "name": "flux-system"}, "patch": "[]"}
    instance = {"spec": {"kustomize": {"patches": [own, instance_entry("flux-system")]}}}
    assert instance_spec(instance, {"flux-system": [OWN, *born_held("flux-system")]}) is None, "nothing changed"
    settled = [OWN, *hold_patches(), carry_entry("apps", "flux-system", [], hold_patches())]
    spec = instance_spec(instance, {"flux-system": settled, "other": []})
    assert spec == {"kustomize": {"patches": [own, instance_entry("flux-system", settled[1:])]}}
    assert instance_spec(instance, None) == {"kustomize": {"patches": [own]}}
    assert instance_spec({"spec": {"kustomize": {"patches": [own]}}}, None) is None


def test_a_hand_run_reads_the_same_born_held_slots_from_fleets_store(tmp_path: Path) -> None:
    state = _state()
    LocalStateStore(tmp_path).commit("e", replace(state, seq=1), [
        Record(1, 0.0, "CutoverRequested", None, state.weights, {}, {"user": "t"})])
    layout = load_layout("e", str(tmp_path))
    assert layout is not None and layout.held == born_held_slots(state) == frozenset({SlotName.GREEN})
