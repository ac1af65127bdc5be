"""A small Flux for a rehearsal: writes the statuses Flux's controllers would, into a KubeSim.

The real rehearsal judges a simulated cluster with the real health gate, so
the gate must see what it sees on a real cluster: CRDs that appear when Flux
is installed, controllers that become available, a GitRepository that
fetches an artifact, Kustomizations that reconcile in dependency order
(``Reconciling=True`` with ``Ready=Unknown``, then ``Ready=True`` with
``lastAppliedRevision`` at the source's revision and ``observedGeneration``
caught up), and a HelmRelease that is released. Faults make it stop where a
real Flux stops: ``stuck`` leaves one Kustomization ``Ready=False`` with
``HealthCheckFailed``; a ``revision`` older than the live slot's is a green
that is healthy at the wrong commit. ``flap`` makes it behave as every real
Flux does once settled: each Kustomization goes ``Reconciling`` (Ready=
Unknown, same revision) for a moment every interval; ``fail`` breaks the
HelmRelease for good (``UpgradeFailed``), as a bad upgrade mid-bake does.

The statuses are built by :mod:`fleet.rehearsal.flux_objects`, which follows
Flux's documented status semantics; this module only decides their order
and timing. ``restore`` writes the end state at once, for a rehearsal that
is resumed in a new process and restarts its clusters from the state dir.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from fleet.rehearsal import flux_objects as fo
from fleet.rehearsal.kube_sim import KubeSim

STUCK = ("Kustomization", "flux-system", "payments")
STUCK_MESSAGE = "timeout waiting for: [Deployment/payments/payments-api status: 'InProgress']"


@dataclass(frozen=True)
class FluxSpec:
    """What Flux on one slot converges to: the revision it applies and whether it gets stuck."""

    revision: str
    stuck: bool = False
    flap: tuple[float, float] | None = None
    """(period, duration) in seconds: once settled, every Kustomization reconciles this long this often."""

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "stuck": self.stuck, "flap": None if self.flap is None else list(self.flap)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FluxSpec:
        flap = data.get("flap")
        return cls(
            str(data["revision"]),
            bool(data.get("stuck", False)),
            None if flap is None else (float(flap[0]), float(flap[1])),
        )


def _kustomizations(rev: str | None, spec: FluxSpec, *, ready: bool | None) -> list[dict[str, Any]]:
    """The four Kustomizations, in dependency order, all Reconciling (``ready=None``) or settled."""
    layout = (
        ("flux-system", (), "./clusters/local"),
        ("infrastructure", ("flux-system",), "./infrastructure"),
        ("payments", ("infrastructure",), "./tenants/payments"),
        ("search", ("infrastructure",), "./tenants/search"),
    )
    objects = []
    for name, deps, path in layout:
        if ready is not None and spec.stuck and ("Kustomization", "flux-system", name) == STUCK:
            objects.append(
                fo.kustomization(
                    name, attempted=rev, ready=False, reason="HealthCheckFailed", message=STUCK_MESSAGE,
                    depends_on=deps, path=path,
                )
            )
            continue
        objects.append(fo.kustomization(name, applied=rev if ready else None, attempted=rev,
                                        ready=ready, depends_on=deps, path=path))
    return objects


def _reconciling(rev: str, spec: FluxSpec) -> list[dict[str, Any]]:
    """The Kustomizations at the start of a routine reconcile: still at ``rev``, Ready=Unknown."""
    reconciling = []
    for obj in _kustomizations(rev, spec, ready=True):
        meta, spec_ = obj["metadata"], obj["spec"]
        reconciling.append(
            fo.kustomization(
                meta["name"], meta["namespace"], applied=rev, attempted=rev, ready=None,
                depends_on=tuple(d["name"] for d in spec_["dependsOn"]), path=spec_["path"],
            )
        )
    return reconciling


def settled(spec: FluxSpec) -> list[dict[str, Any]]:
    """Every object as Flux leaves it once it has done what it can."""
    rev = spec.revision
    return [
        *fo.flux_controllers(),
        fo.git_repository(rev=rev),
        *_kustomizations(rev, spec, ready=True),
        fo.helm_release("payments-api", "payments"),
    ]


class FluxSim:
    """Flux on one KubeSim: ``install`` it, then ``start`` reconciling in the background."""

    def __init__(self, sim: KubeSim, spec: FluxSpec, *, reconcile_s: float) -> None:
        self.sim = sim
        self.spec = spec
        self.reconcile_s = reconcile_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writes = threading.Lock()
        self._suspended = False
        """Drained: the routine reconciles stop, as Flux's do for suspended objects."""
        self.error: BaseException | None = None

    def fail(self) -> None:
        """The HelmRelease fails an upgrade for good: Ready=False, Released=False (UpgradeFailed)."""
        self.sim.put(
            fo.helm_release(
                "payments-api", "payments", ready=False, released=False, reason="UpgradeFailed",
                message="Helm upgrade failed: timed out waiting for the condition",
            )
        )

    def install(self) -> None:
        """Flux's CRDs and controllers (``flux bootstrap`` / flux-operator has run)."""
        self.sim.install_flux()
        self.sim.put_all(fo.flux_controllers())

    def start(self) -> None:
        """Reconcile in the background the way Flux's controllers do, taking ``reconcile_s`` in all."""
        self._thread = threading.Thread(target=self._reconcile, name="flux-sim", daemon=True)
        self._thread.start()

    def restore(self) -> None:
        """Write the settled state at once (a resumed rehearsal restarting this slot)."""
        self.sim.install_flux()
        self.sim.put_all(settled(self.spec))
        if self.spec.flap is not None and self._thread is None:
            self._thread = threading.Thread(target=self._flap, name="flux-sim-flap", daemon=True)
            self._thread.start()

    def suspend(self) -> None:
        """What draining a slot does first: suspend its Kustomizations."""
        with self._writes:
            self._suspended = True
            self._suspend()

    def _suspend(self) -> None:
        for obj in _kustomizations(self.spec.revision, self.spec, ready=True):
            meta = obj["metadata"]
            current = self.sim.get("Kustomization", meta["namespace"], meta["name"])
            if current is not None:
                current["spec"] = {**current.get("spec", {}), "suspend": True}
                self.sim.put(current)

    def _reconcile(self) -> None:
        rev = self.spec.revision
        stages: list[list[dict[str, Any]]] = [
            [fo.git_repository(rev=None, ready=None), *_kustomizations(None, self.spec, ready=None),
             fo.helm_release("payments-api", "payments", ready=None, released=None)],
            [fo.git_repository(rev=rev)],
        ]
        final = _kustomizations(rev, self.spec, ready=True)
        stages += [[final[0]], [final[1]], [final[2], final[3]],
                   [fo.helm_release("payments-api", "payments")]]
        started = time.monotonic()
        try:
            for index, objects in enumerate(stages, start=1):
                due = started + self.reconcile_s * index / len(stages)
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                self.sim.put_all(objects)
        except BaseException as err:  # the thread must not die silently: the gate would just time out
            self.error = err
            return
        self._flap()

    def _flap(self) -> None:
        """Flux's routine reconciles: Ready=Unknown at the same revision for ``duration`` every ``period``."""
        if self.spec.flap is None or self.spec.stuck:
            return
        period, duration = self.spec.flap
        rev = self.spec.revision
        try:
            while not self._stop.wait(max(0.0, period - duration)):
                with self._writes:
                    if self._suspended:
                        return
                    self.sim.put_all(_reconciling(rev, self.spec))
                if self._stop.wait(duration):
                    return
                with self._writes:
                    if self._suspended:
                        return
                    self.sim.put_all(_kustomizations(rev, self.spec, ready=True))
        except BaseException as err:
            self.error = err

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
