"""Real peers for the gate's tests: etcd, two kube-apiservers and real Flux reconciling a real Git repository.

Starting the world takes tens of seconds, so one world serves the whole
session; a test that breaks something puts it back and waits for the world
to converge again (the ``converged`` fixture checks that before each test).
The tests skip, naming the build command, when the peers are not built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import pytest

from fleet.adapters.kube import Backoff, FluxHealthGate
from fleet.domain.health import HealthSettings
from fleet.domain.model import SlotName, Version
from fleet.domain.reports import Secret, SlotOutputs
from fleet.rehearsal.peers import REQUIRE_ENV, Binaries, PeersNotBuilt, RealPeers, Slot

FAST = Backoff(initial_s=0.05, factor=2.0, max_s=0.5, attempts=5)
INTERVAL_S = 5


def binaries_or_skip() -> Binaries:
    """The built peers; a skip naming the build command when they are missing (a failure under CI)."""
    try:
        return Binaries.find()
    except PeersNotBuilt as err:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set: {err}")
        pytest.skip(str(err))


def outputs_of(slot: Slot) -> SlotOutputs:
    return SlotOutputs(
        slot=SlotName(slot.name),
        version=Version(1, 36),
        endpoint=slot.api.url,
        ingress="ingress.invalid",
        kubeconfig=Secret(json.dumps(slot.kubeconfig())),
    )


@pytest.fixture(scope="session")
def peers() -> Iterator[RealPeers]:
    binaries = binaries_or_skip()
    with RealPeers(binaries=binaries, interval=f"{INTERVAL_S}s") as world:
        world.wait_converged(timeout_s=180)
        yield world


@pytest.fixture()
def converged(peers: RealPeers) -> RealPeers:
    """The world with both slots Ready at the repository's HEAD."""
    peers.wait_converged(timeout_s=120)
    return peers


@pytest.fixture()
def make_gate() -> Iterator[Callable[..., FluxHealthGate]]:
    gates: list[FluxHealthGate] = []

    def make(settings: HealthSettings | None = None, **options: object) -> FluxHealthGate:
        options.setdefault("backoff", FAST)
        options.setdefault("missing_poll_s", 0.2)
        gate = FluxHealthGate(settings, **options)  # type: ignore[arg-type]
        gates.append(gate)
        return gate

    yield make
    for gate in gates:
        gate.close()
