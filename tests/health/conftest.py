"""kmock fixtures for the health gate: a Kubernetes API on 127.0.0.1 that tests script.

The gate is synchronous and blocks while it watches, so tests that change
objects *during* a wait run the gate in a worker thread (:func:`waiting`)
while the test coroutine drives kmock in the event loop that serves it.

Tests that need nothing kmock-specific (no injected errors) take
``any_api`` instead of ``api``: they run once on kmock and once on a real
kube-apiserver with Flux's CRDs (:class:`tests.worlds.real_kube.RealKube`,
marked ``realpeers``; skipped with the build command when the peers are not
built). One real server serves the session and is emptied after each test.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import kmock
import pytest
import pytest_asyncio

from fleet.adapters.kube import Backoff, FluxHealthGate
from fleet.domain.health import HealthSettings
from fleet.domain.model import SlotName, Version
from fleet.domain.reports import HealthReport, Secret, SlotOutputs
from fleet.rehearsal.kube_sim import KubeApi, KubeSim

WORLDS = ["kmock", pytest.param("real", marks=pytest.mark.realpeers)]

FAST = Backoff(initial_s=0.02, factor=2.0, max_s=0.2, attempts=3)


def outputs_for(kubeconfig: dict[str, object], slot: SlotName = SlotName.GREEN) -> SlotOutputs:
    return SlotOutputs(
        slot=slot,
        version=Version(1, 31),
        endpoint=str(kubeconfig["clusters"][0]["cluster"]["server"]),  # type: ignore[index]
        ingress="ingress.invalid",
        kubeconfig=Secret(json.dumps(kubeconfig)),
    )


@pytest_asyncio.fixture()
async def api(kmock: kmock.KubernetesEmulator) -> AsyncIterator[KubeApi]:
    """A kmock API server with Flux's CRDs installed and nothing in it."""
    cluster = KubeApi(kmock)
    cluster.install()
    yield cluster


@pytest.fixture(scope="session")
def real_kube_session() -> Iterator[object]:
    from tests.realpeers.conftest import binaries_or_skip
    from tests.worlds.real_kube import real_kube

    binaries = binaries_or_skip()
    with real_kube(binaries=binaries) as kube:
        yield kube


@pytest_asyncio.fixture(params=WORLDS)
async def any_api(request: pytest.FixtureRequest, kmock: kmock.KubernetesEmulator) -> AsyncIterator[object]:
    """Flux's CRDs and nothing else, on kmock or on a real kube-apiserver: ``put``, ``put_all``, ``delete``."""
    if request.param == "kmock":
        cluster = KubeApi(kmock)
        cluster.install()
        yield cluster
        return
    from tests.worlds.real_kube import AsyncRealKube

    kube = request.getfixturevalue("real_kube_session")
    yield AsyncRealKube(kube)
    await asyncio.to_thread(kube.reset)


@pytest_asyncio.fixture()
async def bare_api(kmock: kmock.KubernetesEmulator) -> AsyncIterator[KubeApi]:
    """A kmock API server without Flux: its APIs answer 404."""
    cluster = KubeApi(kmock)
    cluster.install(())
    yield cluster


@pytest.fixture()
def make_gate() -> Iterator[Callable[..., FluxHealthGate]]:
    gates: list[FluxHealthGate] = []

    def make(settings: HealthSettings | None = None, **options: object) -> FluxHealthGate:
        options.setdefault("backoff", FAST)
        options.setdefault("missing_poll_s", 0.1)
        options.setdefault("connect_timeout_s", 2.0)
        options.setdefault("read_timeout_s", 5.0)
        gate = FluxHealthGate(settings, **options)  # type: ignore[arg-type]
        gates.append(gate)
        return gate

    yield make
    for gate in gates:
        gate.close()


@pytest.fixture()
def gate(make_gate: Callable[..., FluxHealthGate]) -> FluxHealthGate:
    return make_gate()


@dataclass
class Waiting:
    """A ``wait_reconciled`` running in a worker thread, and when it returned."""

    task: asyncio.Future[HealthReport]
    returned_at: list[float]

    async def result(self, within_s: float = 5.0) -> HealthReport:
        return await asyncio.wait_for(self.task, within_s)

    def done(self) -> bool:
        return self.task.done()


def watching_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fleet-watch-")]


@pytest.fixture()
def waiting(gate: FluxHealthGate) -> Callable[..., Awaitable[Waiting]]:
    """Start ``gate.wait_reconciled`` in a thread; return once its watches are open."""

    async def start(
        api: KubeApi,
        timeout_s: float = 10.0,
        *,
        using: FluxHealthGate | None = None,
        settle_s: float = 0.3,
    ) -> Waiting:
        returned_at: list[float] = []
        chosen = using or gate

        def run() -> HealthReport:
            try:
                return chosen.wait_reconciled("prod", SlotName.GREEN, outputs_for(api.kubeconfig()), timeout_s)
            finally:
                returned_at.append(time.monotonic())

        task = asyncio.ensure_future(asyncio.to_thread(run))
        await asyncio.sleep(settle_s)
        return Waiting(task, returned_at)

    return start


@pytest.fixture()
def sim() -> Iterator[KubeSim]:
    with KubeSim() as simulator:
        yield simulator
