"""The in-memory rehearsal with its clusters attached: real API servers and Flux that outlive the process.

The in-memory world decides everything on a simulated clock, and a run killed
with ``--fault crash-at=`` leaves only files behind, which ``fleet resume``
picks up. To see what a kill does to the workloads that must not run twice,
the clusters must be real and must survive the kill: they are served by
another process (the test's, over :class:`fleet.rehearsal.peers.RealClusters`),
whose address the state directory names in :data:`ATTACHED`. When that file
is there, :func:`attach` gives the rehearsal's engine a provisioner that
creates, bootstraps and destroys the real clusters alongside the fakes'
bookkeeping, and the real :class:`~fleet.adapters.kube.singletons.KubeSingletons`
on their kubeconfigs. Everything else (health, traffic, analysis, time) stays
simulated; a bootstrap creates the slot's Flux sync objects (born holding
the singletons when the layout says so, :func:`born_held`) and returns once
its sync Kustomization applied Git's HEAD, as ``flux bootstrap`` does.

Every call is idempotent on the serving side (a cluster is created once per
slot until destroyed, Flux is started once per cluster), so a resumed process
that repeats the command it was killed in does not do it twice.

A kill plan (:data:`KILLS`, :class:`KillPlan`; in memory too) kills one
cutover at every checkpoint in turn, across the runs that resume it, so that
one world serves them all.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any, NamedTuple

from fleet.domain.model import SlotName, Version
from fleet.domain.reports import Secret, SlotOutputs
from fleet.ports import Layout, Provisioner, Singletons
from fleet.rehearsal.common import die
from fleet.rehearsal.files import RehearsalFiles
from fleet.rehearsal.sim import FakeProvisioner

ATTACHED = "attached.json"
"""``{"url": "http://127.0.0.1:PORT"}``: where the clusters of this rehearsal are served."""
CALL_TIMEOUT_S = 300.0


class AttachedClusters:
    """The client of the clusters' server: one JSON request, one JSON answer, over HTTP on 127.0.0.1."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, op: str, slot: str, **args: Any) -> Any:
        body = json.dumps({"op": op, "slot": slot, **args}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(f"the attached clusters failed {op} {slot}: {answer['error']}")
        return answer.get("result")


class AttachedProvisioner:
    """The fakes' provisioner, with each slot's cluster created, bootstrapped and destroyed for real."""

    def __init__(self, fake: FakeProvisioner, clusters: AttachedClusters) -> None:
        self.fake = fake
        self.clusters = clusters

    def preflight(self) -> None:
        self.fake.preflight()

    def cancel(self, why: Exception) -> None:
        self.fake.cancel(why)

    def refresh(self, layout: Layout) -> None:
        self.fake.refresh(layout)

    def provision(self, layout: Layout, slot: SlotName, version: Version) -> SlotOutputs:
        self.clusters.call("cluster", slot.value)
        self.fake.provision(layout, slot, version)
        outputs = self.outputs(layout.env, slot)
        assert outputs is not None
        return outputs

    def bootstrap(self, layout: Layout, slot: SlotName) -> None:
        self.clusters.call("bootstrap", slot.value, patches=born_held(layout, slot))
        self.fake.bootstrap(layout, slot)

    def outputs(self, env: str, slot: SlotName) -> SlotOutputs | None:
        outputs = self.fake.outputs(env, slot)
        if outputs is None:
            return None
        kubeconfig = self.clusters.call("kubeconfig", slot.value)
        if kubeconfig is None:
            return outputs
        return SlotOutputs(slot=outputs.slot, version=outputs.version, endpoint=outputs.endpoint,
                           ingress=outputs.ingress, kubeconfig=Secret(json.dumps(kubeconfig)))

    def drain(self, layout: Layout, slot: SlotName) -> None:
        self.fake.drain(layout, slot)

    def destroy(self, layout: Layout, slot: SlotName) -> None:
        self.clusters.call("destroy", slot.value)
        self.fake.destroy(layout, slot)


def born_held(layout: Layout, slot: SlotName) -> list[dict[str, Any]]:
    """The entries the slot's sync Kustomization is created with, as the Pulumi program's bootstrap would write them."""
    from fleet.domain import hold_patches

    return hold_patches.born_held("flux-system") if slot in layout.held else []


class Attached(NamedTuple):
    provisioner: Provisioner
    singletons: Singletons
    checkpoint: Callable[[str], None]


def attach(
    files: RehearsalFiles, provisioner: FakeProvisioner, singletons: Singletons, checkpoint: Callable[[str], None]
) -> Attached:
    """The rehearsal's provisioner, singletons and checkpoint hook: on the attached clusters when the state
    directory names them, killed by its kill plan when it has one."""
    plan = files.load_json(KILLS)
    if plan is not None:
        checkpoint = KillPlan(files, plan).checkpoint
    where = files.load_json(ATTACHED)
    if where is None:
        return Attached(provisioner, singletons, checkpoint)
    from fleet.adapters.kube.singletons import KubeSingletons

    return Attached(AttachedProvisioner(provisioner, AttachedClusters(str(where["url"]))),
                    KubeSingletons(timeout_s=120.0, poll_s=0.2), checkpoint)


KILLS = "kills.json"
"""A kill plan: ``{"env": ENV, "arm_at": "before:BootstrapFlux", "armed": false, "killed": [], "names": [...]}``
(``names``: the checkpoints to kill at; the others, such as a resume's own records, are passed)."""
REPEATED = frozenset({"Resumed", "Refreshed", "WeightsIntended"})
"""Records a resumed run journals again by design: they do not move a run past a point."""


class KillPlan:
    """Kills the process (SIGKILL) at every point of a cutover once, across the runs that resume it.

    A point is a checkpoint's name and how many records (but :data:`REPEATED`)
    were committed when it was passed; a resumed run passes the point it was
    killed at again (it re-does the command) and goes on to the next one, where
    it is killed in turn. Armed at the first checkpoint starting with
    ``arm_at``; the points killed at are written before the kill, so every
    point is killed at exactly once and ``fleet resume`` in a loop ends the
    cutover. One world serves the whole chain: that is what makes killing at
    every checkpoint on real clusters affordable.
    """

    def __init__(self, files: RehearsalFiles, plan: dict[str, Any]) -> None:
        self.files = files
        self.plan = plan

    def checkpoint(self, name: str) -> None:
        plan = self.plan
        if not plan["armed"]:
            if not name.startswith(str(plan["arm_at"])):
                return
            plan["armed"] = True
        committed = sum(1 for r in self.files.store.history(str(plan["env"])) if r.event not in REPEATED)
        point = [name, committed]
        if point in plan["killed"] or name not in plan["names"]:
            return
        plan["killed"].append(point)
        self.files.save_json(KILLS, plan)
        die(f"rehearsal: killing the process at {name} (kill plan, point {len(plan['killed'])}); "
            f"finish with: fleet resume {plan['env']}")
