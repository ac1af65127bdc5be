"""A slot born held on real peers: its Flux never runs the singletons, at any level, from its first apply.

Two real kube-apiservers with audit logs, real source- and
kustomize-controller on each, and a Git repository that already holds a
CronJob and a labelled Deployment in the root path, in a child Kustomization,
in a grandchild, and in a child whose Git manifest sets its own
``spec.patches``. Blue runs them. Green's ``flux-system`` Kustomization is
created with fleet's born-held entries (what the Pulumi program does for a
cutover's new slot), then :meth:`KubeSingletons.hold` runs as the engine runs
it after ``BootstrapFlux``, then the handoff: held on blue, released on green.

The API servers' own records decide: every write of those workloads green's
API server answered before the release shows them held (CronJob
``spec.suspend: true``, Deployment ``spec.replicas: 0``), every child
Kustomization was created suspended, and blue's record last shows one
running before green's first does, which proves the record would show it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from fleet.adapters.kube.singletons import LABEL, KubeSingletons
from fleet.domain.hold_patches import born_held, instance_entry, is_ours, kind_of
from fleet.domain.model import SlotName
from fleet.rehearsal.peers import FLUX_NAMESPACE, TENANTS, RealPeers, kustomization
from tests.realpeers.conftest import binaries_or_skip, outputs_of

pytestmark = [pytest.mark.realpeers, pytest.mark.timeout(480)]

INTERVAL = "5s"
LEVELS = {"jobs": "clusters/local", "apps": "apps", "nested": "nested", "patched": "patched"}
"""Namespace of each level's workloads -> the Git path that holds them."""
CHILDREN = ("infrastructure", *TENANTS, "apps", "nested", "patched")
"""Every Kustomization but the root: the repository's platform and tenants, and this test's levels."""


def _workloads(ns: str) -> list[dict[str, Any]]:
    cron = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "billing", "namespace": ns},
        "spec": {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}},
    }
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "consumer", "namespace": ns, "labels": {LABEL: "true"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "consumer"}}, "template": {
            "metadata": {"labels": {"app": "consumer"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, cron, deploy]


def _files() -> dict[str, str]:
    def dump(*objs: dict[str, Any]) -> str:
        return yaml.safe_dump_all(list(objs), sort_keys=False)

    apps = kustomization("apps", "./apps", INTERVAL, wait=False)
    nested = kustomization("nested", "./nested", INTERVAL, wait=False)
    patched = kustomization("patched", "./patched", INTERVAL, wait=False)
    own = {"op": "add", "path": "/metadata/annotations", "value": {"example.com/patched": "by-git"}}
    patched["spec"]["patches"] = [{"target": {"kind": "Deployment"}, "patch": json.dumps([own])}]
    files = {f"{path}/singletons.yaml": dump(*_workloads(ns)) for ns, path in LEVELS.items()}
    files["clusters/local/apps.yaml"] = dump(apps, patched)
    files["apps/nested.yaml"] = dump(nested)
    return files


@pytest.fixture(scope="module")
def world() -> Iterator[RealPeers]:
    with RealPeers(binaries=binaries_or_skip(), interval=INTERVAL, start_flux=False, audit=True) as peers:
        yield peers


def _wait(what: str, check: Any, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g}s: {what}")
        time.sleep(0.25)


def _audit(world: RealPeers, slot: str) -> list[tuple[datetime, str, dict[str, Any]]]:
    """(received, request URI, answered object) of every write the slot's API server completed, in order."""
    out = []
    for line in world.audit_log(slot).read_text().splitlines():
        event = json.loads(line)
        if event.get("stage") == "ResponseComplete" and event.get("responseObject"):
            stamp = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
            out.append((stamp, event["requestURI"], event["responseObject"]))
    return sorted(out, key=lambda e: e[0])


def _running(obj: dict[str, Any]) -> bool | None:
    """Whether an object the API server answered runs: None for objects that are not held workloads."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "CronJob":
        return spec.get("suspend") is not True
    if kind == "Deployment" and (obj["metadata"].get("labels") or {}).get(LABEL) == "true":
        return bool(spec.get("replicas", 1) != 0)
    return None


def _shown(world: RealPeers, slot: str) -> dict[str, bool]:
    rest = world.started[slot].rest()
    out = {}
    for ns in LEVELS:
        for kind, api_version in (("CronJob", "batch/v1"), ("Deployment", "apps/v1")):
            for obj in rest.list(api_version, kind, ns):
                out[f"{kind} {ns}"] = bool(_running({**obj, "kind": kind}))
    return out


def _stopped_at(events: list[tuple[datetime, str, dict[str, Any]]]) -> datetime:
    """When the record last shows a workload running (dry runs are not writes)."""
    return max(at for at, uri, obj in events if "dryRun" not in uri and _running(obj))


def test_a_slot_born_held_never_runs_them_at_any_level(world: RealPeers) -> None:
    """Blue runs them; green is born held, then the handoff: held on blue (confirmed), released on green."""
    world.repo.commit("Workloads that must not run twice, at every level", _files())
    world.start_slot_flux("blue")
    _wait("blue runs them at every level",
          lambda: len(_shown(world, "blue")) == 8 and all(_shown(world, "blue").values()))
    world.start_slot_flux("green", patches=born_held("flux-system"))
    _flux_instance(world)
    blue, green = world.started["blue"], world.started["green"]
    KubeSingletons(timeout_s=240.0, poll_s=0.5).hold("local", SlotName.GREEN, outputs_of(green))
    root = green.rest().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", FLUX_NAMESPACE, FLUX_NAMESPACE)
    ours = [p for p in root["spec"]["patches"] if is_ours(p)]
    own, entry = _instance_patches(world)
    assert own == OWN and entry["target"] == {"kind": "Kustomization", "name": FLUX_NAMESPACE}
    assert yaml.safe_load(entry["patch"]) == [{"op": "add", "path": "/spec/patches", "value": ours}], \
        "flux-operator would apply the born-held entries again"

    # The hold is confirmed: every level's workloads are there, held, and every Kustomization applies again.
    assert set(_shown(world, "green")) == {f"{k} {ns}" for ns in LEVELS for k in ("CronJob", "Deployment")}
    assert not any(_shown(world, "green").values())
    assert {k["metadata"]["name"] for k in green.kustomizations()} == {"flux-system", *CHILDREN}
    _wait("every level applies with nothing suspended", lambda: all(
        not k["spec"].get("suspend") and (k.get("status") or {}).get("lastAppliedRevision")
        for k in green.kustomizations()))
    assert not any(kind_of(p) == "children" for k in green.kustomizations() for p in k["spec"].get("patches", []))
    patched = green.rest().get("apps/v1", "Deployment", "patched", "consumer")
    assert patched["metadata"]["annotations"]["example.com/patched"] == "by-git", "the child's own patch is kept"
    time.sleep(6.0)  # a whole sync interval: a routine reconcile does not undo it
    assert not any(_shown(world, "green").values())

    KubeSingletons(timeout_s=240.0, poll_s=0.5).hold("local", SlotName.BLUE, outputs_of(blue))
    released_at = datetime.now(UTC)
    KubeSingletons().release("local", SlotName.GREEN, outputs_of(green))
    _wait("green runs them after the release", lambda: all(_shown(world, "green").values()))

    on_green = _audit(world, "green")
    before = [(uri, obj) for at, uri, obj in on_green if at < released_at]
    workloads = [(obj["metadata"]["namespace"], _running(obj)) for _, obj in before if _running(obj) is not None]
    assert {ns for ns, _ in workloads} == set(LEVELS), "the record has every level's workloads"
    assert [w for w in workloads if w[1]] == [], "green's API server answered a held workload running"
    started = min(at for at, _, obj in on_green if _running(obj))
    assert _stopped_at(_audit(world, "blue")) < released_at < started, "both slots ran them at once"
    first: dict[str, dict[str, Any]] = {}
    for uri, obj in before:
        if obj.get("kind") == "Kustomization" and "dryRun" not in uri:
            first.setdefault(obj["metadata"]["name"], obj)
    assert set(first) - {FLUX_NAMESPACE} == set(CHILDREN)
    running = [name for name in CHILDREN if first[name]["spec"].get("suspend") is not True]
    assert running == [], "a child Kustomization was created not suspended"


OWN = {"target": {"kind": "Kustomization", "name": "flux-system"}, "patch": "[]"}


def _flux_instance(world: RealPeers) -> None:
    """flux-operator's FluxInstance on green (its CRD, no operator), declaring green's sync born held."""
    rest = world.started["green"].rest()
    name = "fluxinstances.fluxcd.controlplane.io"
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    rest.apply({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name},
        "spec": {"group": "fluxcd.controlplane.io", "scope": "Namespaced",
                 "names": {"kind": "FluxInstance", "plural": "fluxinstances", "singular": "fluxinstance",
                           "listKind": "FluxInstanceList"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}]},
    })
    world.started["green"].flux.wait_established([name])
    rest.apply({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
                "metadata": {"name": "flux", "namespace": FLUX_NAMESPACE},
                "spec": {"distribution": {"version": "2.x"},
                         "kustomize": {"patches": [OWN, instance_entry(FLUX_NAMESPACE)]}}})


def _instance_patches(world: RealPeers) -> list[dict[str, Any]]:
    instance = world.started["green"].rest().get("fluxcd.controlplane.io/v1", "FluxInstance", FLUX_NAMESPACE, "flux")
    assert instance["spec"]["distribution"] == {"version": "2.x"}, "the rest of the instance is kept"
    return list(instance["spec"]["kustomize"]["patches"])


def test_the_release_takes_fleets_entry_out_of_the_flux_instance_too(world: RealPeers) -> None:
    """The operator path: the FluxInstance would apply the born-held entries again, so the release removes them."""
    _flux_instance(world)
    KubeSingletons().release("local", SlotName.GREEN, outputs_of(world.started["green"]))
    assert _instance_patches(world) == [OWN]
