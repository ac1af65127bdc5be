"""Draining a slot: Flux stops, load balancers are released, and the wait is bounded."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fleet.adapters.kube_teardown import drain
from fleet.domain.reports import ObjectRef
from fleet.errors import TransientError


@dataclass
class FakeClock:
    t: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeCluster:
    """An in-memory cluster whose controllers release a deleted object after ``release_after`` polls."""

    flux: list[ObjectRef]
    releasers: list[ObjectRef]
    release_after: int = 2
    calls: list[str] = field(default_factory=list)
    deleting: dict[ObjectRef, int] = field(default_factory=dict)

    def list_suspendable(self) -> list[ObjectRef]:
        return list(self.flux)

    def suspend(self, key: ObjectRef) -> None:
        self.calls.append(f"suspend {key}")

    def list_releasers(self) -> list[ObjectRef]:
        for key in list(self.deleting):
            self.deleting[key] -= 1
            if self.deleting[key] < 0:
                self.releasers.remove(key)
                del self.deleting[key]
        return list(self.releasers)

    def delete(self, key: ObjectRef) -> None:
        self.calls.append(f"delete {key}")
        self.deleting.setdefault(key, self.release_after)


def cluster(release_after: int = 2) -> FakeCluster:
    return FakeCluster(
        flux=[
            ObjectRef("Kustomization", "flux-system", "apps"),
            ObjectRef("HelmRelease", "ingress", "ingress-nginx"),
            ObjectRef("FluxInstance", "flux-system", "flux"),
        ],
        releasers=[
            ObjectRef("Service", "ingress", "ingress-nginx-controller"),
            ObjectRef("Ingress", "shop", "web"),
        ],
        release_after=release_after,
    )


def test_flux_is_suspended_before_anything_is_deleted_starting_with_the_operator() -> None:
    fake = cluster()
    drain(fake, clock=FakeClock())
    suspends = [c for c in fake.calls if c.startswith("suspend")]
    assert suspends[0] == "suspend FluxInstance/flux-system/flux"
    assert len(suspends) == 3
    assert fake.calls.index(suspends[-1]) < fake.calls.index(next(c for c in fake.calls if c.startswith("delete")))


def test_ingresses_go_before_load_balancer_services() -> None:
    fake = cluster()
    drain(fake, clock=FakeClock())
    deletes = [c for c in fake.calls if c.startswith("delete")]
    assert deletes == ["delete Ingress/shop/web", "delete Service/ingress/ingress-nginx-controller"]


def test_drain_waits_until_the_controllers_have_released_everything() -> None:
    fake = cluster(release_after=3)
    clock = FakeClock()
    report = drain(fake, clock=clock, poll_s=5)
    assert fake.releasers == []
    assert report.waited_s == clock.t > 0
    assert len(report.deleted) == 2


def test_drain_gives_up_after_the_timeout_naming_what_is_left() -> None:
    fake = cluster(release_after=1000)
    clock = FakeClock()
    with pytest.raises(TransientError) as caught:
        drain(fake, clock=clock, timeout_s=60, poll_s=5)
    assert "Service/ingress/ingress-nginx-controller" in str(caught.value)
    assert clock.t == 60


def test_a_cluster_without_flux_or_load_balancers_drains_at_once() -> None:
    fake = FakeCluster(flux=[], releasers=[])
    assert drain(fake, clock=FakeClock()).waited_s == 0
