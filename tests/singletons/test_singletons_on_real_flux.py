"""The singleton hold on real peers: two real kube-apiservers, each with real Flux reconciling one Git repository.

A recorder polls both API servers throughout and keeps what they show for a
CronJob without the label (held by default), a CronJob opted out with
``fleet.io/singleton: "false"``, and a Deployment labelled
``fleet.io/singleton: "true"``. The test holds green before the workloads
reach Git (as bootstrap does), then hands them over to green the way a
cutover does (hold blue, confirmed, then release green) and back the way a
rollback does (hold green, confirmed, then release blue). From the API
servers' records: the held workloads never run on both slots at once, the
opted-out CronJob runs on both throughout, and each handoff took effect.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fleet.adapters.kube.singletons import LABEL, MARKER, KubeSingletons
from fleet.domain.model import SlotName
from fleet.rehearsal.peers import RealPeers
from fleet.rehearsal.peers.repository import kustomization
from tests.realpeers.conftest import binaries_or_skip, outputs_of

pytestmark = [pytest.mark.realpeers, pytest.mark.timeout(480)]

INTERVAL = "5s"
NS = "jobs"


def _manifests() -> dict[str, str]:
    import yaml

    def cron(name: str, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}},
        }

    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "consumer", "namespace": NS, "labels": {LABEL: "true"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "consumer"}}, "template": {
            "metadata": {"labels": {"app": "consumer"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    objs = [ns, cron("billing", {}), cron("cache-warmer", {LABEL: "false"}), deploy]
    return {**_no_health_wait(), "infrastructure/singletons.yaml": yaml.safe_dump_all(objs, sort_keys=False)}


def _no_health_wait() -> dict[str, str]:
    """No kubelet or controller-manager here: the Deployment never reports ready, so no health wait.

    Committed on its own first: in the same commit as the Deployment, infrastructure could reconcile the
    new revision with its old spec (``wait: true``) before the root applied the new one, and stay in a
    health check for its whole timeout, which no hold gets through.
    """
    import yaml

    doc = yaml.safe_dump(kustomization("infrastructure", "./infrastructure", INTERVAL, wait=False), sort_keys=False)
    return {"clusters/local/infrastructure.yaml": doc}


class Recorder(threading.Thread):
    """Polls both API servers; every reading is (time, slot, billing runs, cache-warmer runs, consumer runs)."""

    def __init__(self, peers: RealPeers) -> None:
        super().__init__(daemon=True)
        self.peers = peers
        self.readings: list[tuple[float, str, bool | None, bool | None, bool | None]] = []
        self.stop = threading.Event()

    def read(self, slot: str) -> tuple[bool | None, bool | None, bool | None]:
        rest = self.peers.started[slot].rest()
        crons = {c["metadata"]["name"]: c for c in rest.list("batch/v1", "CronJob", NS)}
        deploys = {d["metadata"]["name"]: d for d in rest.list("apps/v1", "Deployment", NS)}

        def cron(name: str) -> bool | None:
            return None if name not in crons else crons[name]["spec"].get("suspend") is not True

        consumer = deploys.get("consumer")
        return cron("billing"), cron("cache-warmer"), None if consumer is None else consumer["spec"]["replicas"] != 0

    def run(self) -> None:
        while not self.stop.is_set():
            for slot in ("blue", "green"):
                with contextlib.suppress(OSError):
                    self.readings.append((time.monotonic(), slot, *self.read(slot)))
            time.sleep(0.1)

    def latest(self, slot: str) -> tuple[bool | None, bool | None, bool | None]:
        return self.read(slot)


@pytest.fixture(scope="module")
def world() -> Iterator[RealPeers]:
    with RealPeers(binaries=binaries_or_skip(), interval=INTERVAL) as peers:
        yield peers


def _wait(what: str, check: Any, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g}s: {what}")
        time.sleep(0.25)


def test_held_workloads_never_run_on_both_slots(world: RealPeers) -> None:
    singletons = KubeSingletons(timeout_s=120.0, poll_s=0.5)
    blue, green = outputs_of(world.started["blue"]), outputs_of(world.started["green"])
    _wait("Flux created its Kustomizations on green",
          lambda: len(world.started["green"].kustomizations()) >= 2)
    world.repo.commit("Infrastructure without a health wait", _no_health_wait())
    world.wait_converged(timeout_s=180)
    # As bootstrap does: green holds them before they reach Git.
    singletons.hold("local", SlotName.GREEN, green)
    ks = world.started["green"].kustomizations()
    assert all(any(str(p.get("patch", "")).startswith(MARKER) for p in k["spec"].get("patches", [])) for k in ks)

    recorder = Recorder(world)
    recorder.start()
    try:
        world.repo.commit("Workloads that must not run twice", _manifests())
        _wait("blue runs them", lambda: recorder.latest("blue") == (True, True, True))
        _wait("green has them, held", lambda: recorder.latest("green") == (False, True, False))

        # The cutover's handoff: stopped on blue (confirmed by the hold), then released on green.
        singletons.hold("local", SlotName.BLUE, blue)
        assert recorder.latest("blue") == (False, True, False)
        singletons.release("local", SlotName.GREEN, green)
        _wait("green runs them after the handoff", lambda: recorder.latest("green") == (True, True, True))

        # The rollback: stopped on green first, then started on blue.
        singletons.hold("local", SlotName.GREEN, green)
        assert recorder.latest("green") == (False, True, False)
        singletons.release("local", SlotName.BLUE, blue)
        _wait("blue runs them again after the rollback", lambda: recorder.latest("blue") == (True, True, True))
        time.sleep(1.0)
    finally:
        recorder.stop.set()
        recorder.join(timeout=10)

    by_slot: dict[str, tuple[bool | None, bool | None, bool | None]] = {}
    both = []
    for at, slot, billing, warmer, consumer in recorder.readings:
        by_slot[slot] = (billing, warmer, consumer)
        other = by_slot.get("green" if slot == "blue" else "blue")
        if other is None:
            continue
        if (billing and other[0]) or (consumer and other[2]):
            both.append((at, slot, by_slot.get("blue"), by_slot.get("green")))
    assert both == [], f"both slots ran them at once: {both[:3]}"
    green_states = {r[2:] for r in recorder.readings if r[1] == "green"}
    assert (True, True, True) in green_states and (False, True, False) in green_states
    assert all(r[3] in (True, None) for r in recorder.readings), "the opted-out CronJob was held"
