"""The whole real world: one etcd, a slot per cluster with its API server and Flux, and a Git server."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.rehearsal.peers.base import FLUX_NAMESPACE, Binaries, PeerFailed
from fleet.rehearsal.peers.flux import Flux, ready_condition
from fleet.rehearsal.peers.git import GitOpsRepo, GitServer
from fleet.rehearsal.peers.kube import ApiServer, Certificates, Etcd, Rest
from fleet.rehearsal.peers.repository import TENANTS, repository_files

# --- the whole world ---------------------------------------------------------------------------


@dataclass
class Slot:
    """One slot's cluster: its API server and its Flux."""

    name: str
    api: ApiServer
    flux: Flux

    def kubeconfig(self) -> dict[str, Any]:
        return self.api.kubeconfig()

    def rest(self) -> Rest:
        return self.api.rest()

    def kustomizations(self) -> list[dict[str, Any]]:
        return self.rest().list("kustomize.toolkit.fluxcd.io/v1", "Kustomization", FLUX_NAMESPACE)

    def applied_revision(self, name: str = "flux-system") -> str | None:
        obj = self.rest().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", FLUX_NAMESPACE, name)
        return (obj.get("status") or {}).get("lastAppliedRevision")

    def converged(self, revision: str, names: Iterable[str]) -> bool:
        """Every named Kustomization is Ready with ``revision`` applied."""
        by_name = {k["metadata"]["name"]: k for k in self.kustomizations()}
        for name in names:
            obj = by_name.get(name)
            ready = ready_condition(obj) if obj else None
            if obj is None or ready is None or ready.get("status") != "True":
                return False
            if (obj.get("status") or {}).get("lastAppliedRevision") != revision:
                return False
        return True

    def suspend(self, name: str, suspended: bool = True, kind: str = "Kustomization") -> None:
        api_version = "kustomize.toolkit.fluxcd.io/v1" if kind == "Kustomization" else "source.toolkit.fluxcd.io/v1"
        self.rest().merge_patch(api_version, kind, FLUX_NAMESPACE, name, {"spec": {"suspend": suspended}})

    def reconcile_now(self, name: str = "flux-system", kind: str = "GitRepository") -> None:
        """What ``flux reconcile`` does: ask the controller to reconcile at once."""
        api_version = "kustomize.toolkit.fluxcd.io/v1" if kind == "Kustomization" else "source.toolkit.fluxcd.io/v1"
        stamp = {"reconcile.fluxcd.io/requestedAt": f"{time.time():.6f}"}
        self.rest().merge_patch(api_version, kind, FLUX_NAMESPACE, name, {"metadata": {"annotations": stamp}})


ALL_KUSTOMIZATIONS = ("flux-system", "infrastructure", *TENANTS)


class RealClusters:
    """The rehearsal host's real world: clusters created, bootstrapped and destroyed one slot at a time.

    etcd, the certificates and the Git server with its repository are shared
    and started with the first cluster. Each cluster gets an etcd prefix of
    its own, so a destroyed slot's next cluster starts empty.
    """

    def __init__(self, interval: str = "5m", binaries: Binaries | None = None, audit_dir: Path | None = None) -> None:
        # 5 minutes: no routine reconcile (Ready=Unknown for a moment) lands in a one-minute rehearsal,
        # whose re-checks before each weight step would take it for a failure (see tests/realpeers).
        self.interval = interval
        self.binaries = binaries or Binaries.find()
        self.workdir = Path(tempfile.mkdtemp(prefix="fleet-real-world-"))
        self._stack = contextlib.ExitStack()
        self._stack.callback(shutil.rmtree, self.workdir, True)
        self.slots: dict[str, Slot] = {}
        self._created = 0
        self._shared = False
        self.audit_dir = audit_dir
        """With a directory, each cluster's API server logs its workloads' writes to ``<n>-<slot>.audit.jsonl``."""

    def _start_shared(self) -> None:
        if self._shared:
            return
        self._shared = True
        self.certs = Certificates.generate(self.workdir / "pki")
        self.etcd = Etcd(self.binaries.bin["etcd"], self.workdir).start()
        self._stack.callback(self.etcd.stop)
        self.repo = GitOpsRepo(self.workdir)
        server = GitServer(self.repo.bare.parent).start()
        self._stack.callback(server.stop)
        self.repo_url = f"{server.url}/{self.repo.name}.git"
        self.repo.commit("Platform and tenants", repository_files(self.repo_url, self.interval))

    def cluster(self, slot: str) -> Slot:
        """The slot's cluster, created (an empty API server) if it has none."""
        existing = self.slots.get(slot)
        if existing is not None:
            return existing
        self._start_shared()
        self._created += 1
        work = self.workdir / f"cluster-{self._created}"
        work.mkdir()
        audit = None
        if self.audit_dir is not None:
            self.audit_dir.mkdir(parents=True, exist_ok=True)
            audit = self.audit_dir / f"{self._created}-{slot}.audit.jsonl"
        api = ApiServer(slot, self.binaries.bin["kube-apiserver"], self.etcd, self.certs, work,
                        prefix=f"/registry-{slot}-{self._created}", audit_log=audit)
        api.start()
        created = Slot(slot, api, Flux(api, self.binaries, work))
        self.slots[slot] = created
        return created

    def flux(self, slot: str, action: str) -> None:
        """FluxSim's verbs on real Flux: install (CRDs), start (controllers and sync), restore, suspend, stop."""
        cluster = self.cluster(slot)
        if action == "install":
            cluster.flux.install_crds()
        elif action == "start":
            cluster.flux.install_crds()
            cluster.flux.start()
            cluster.flux.bootstrap(self.repo_url, self.interval)
        elif action == "restore":  # a cluster that was bootstrapped: Flux running and syncing, as "start" leaves it
            if not cluster.flux.processes:
                cluster.flux.install_crds()
                cluster.flux.start()
                cluster.flux.bootstrap(self.repo_url, self.interval)
        elif action == "suspend":
            for name in ALL_KUSTOMIZATIONS:
                with contextlib.suppress(urllib.error.HTTPError):
                    cluster.suspend(name)
        elif action == "stop":
            cluster.flux.stop()
        else:
            raise ValueError(f"unknown Flux action {action!r}")

    def wait_converged(self, slot: str, timeout_s: float = 180.0) -> str:
        """Wait until the slot's Kustomizations are Ready at the repository's HEAD; that revision."""
        revision = self.repo.revision()
        cluster = self.cluster(slot)
        deadline = time.monotonic() + timeout_s
        while not cluster.converged(revision, ALL_KUSTOMIZATIONS):
            if time.monotonic() > deadline:
                raise PeerFailed(f"{slot}: Flux did not apply {revision} within {timeout_s:g}s")
            time.sleep(0.25)
        return revision

    def revision(self, slot: str) -> str | None:
        cluster = self.slots.get(slot)
        return None if cluster is None else cluster.applied_revision()

    def destroy(self, slot: str) -> None:
        cluster = self.slots.pop(slot, None)
        if cluster is not None:
            cluster.flux.stop()
            cluster.api.stop()

    def pids(self) -> list[int]:
        procs = [p for s in self.slots.values() for p in (s.api.process, *s.flux.processes)]
        if self._shared:
            procs.append(self.etcd.process)
        return [p.pid for p in procs if p.pid is not None]

    def close(self) -> None:
        for slot in list(self.slots):
            self.destroy(slot)
        self._stack.close()


@dataclass
class RealPeers:
    """etcd, an API server and Flux per slot, and a Git server with the GitOps repository.

    Use as a context manager; everything it started is stopped by PID on exit.
    ``interval`` is every Flux object's reconcile interval (short, so that
    routine reconciles happen during the tests' waits).
    """

    slots: tuple[str, ...] = ("blue", "green")
    interval: str = "10s"
    workdir: Path | None = None
    binaries: Binaries | None = None
    start_flux: bool = True
    audit: bool = False
    """Each API server writes an audit log (``audit_log(slot)``): workloads' and Kustomizations' writes."""
    started: dict[str, Slot] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._own_dir = self.workdir is None

    def __enter__(self) -> RealPeers:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        binaries = self.binaries = self.binaries or Binaries.find()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="fleet-peers-"))
        if self._own_dir:
            self._stack.callback(shutil.rmtree, self.workdir, True)
        work = self.workdir
        certs = Certificates.generate(work / "pki")
        self.etcd = Etcd(binaries.bin["etcd"], work).start()
        self._stack.callback(self.etcd.stop)
        self.repo = GitOpsRepo(work)
        server = GitServer(self.repo.bare.parent).start()
        self._stack.callback(server.stop)
        self.git_server = server
        self.repo_url = f"{server.url}/{self.repo.name}.git"
        self.repo.commit("Platform and tenants", repository_files(self.repo_url, self.interval))
        apis = [ApiServer(slot, binaries.bin["kube-apiserver"], self.etcd, certs, work,
                          audit_log=self.audit_log(slot) if self.audit else None) for slot in self.slots]
        for api in apis:  # started together, waited for together: the two start in parallel
            api.start(wait=False)
            self._stack.callback(api.stop)
        for api in apis:
            api.wait_ready()
        for api in apis:
            flux = Flux(api, binaries, work)
            self._stack.callback(flux.stop)
            self.started[api.slot] = Slot(api.slot, api, flux)
            flux.install_crds()
            if self.start_flux:
                self.start_slot_flux(api.slot)

    def start_slot_flux(self, slot: str, *, patches: list[dict[str, Any]] | None = None) -> None:
        flux = self.started[slot].flux
        flux.start()
        flux.bootstrap(self.repo_url, self.interval, patches=patches)

    def audit_log(self, slot: str) -> Path:
        assert self.workdir is not None
        return self.workdir / f"{slot}-audit.log"

    def slot(self, name: str) -> Slot:
        return self.started[name]

    def wait_converged(self, revision: str | None = None, *, slots: Iterable[str] | None = None,
                       names: Iterable[str] = ALL_KUSTOMIZATIONS, timeout_s: float = 120.0) -> str:
        """Wait until the slots' Kustomizations are Ready at ``revision`` (default: the repository's HEAD)."""
        revision = revision or self.repo.revision()
        wanted = list(slots or self.started)
        names = list(names)
        deadline = time.monotonic() + timeout_s
        while True:
            pending = [s for s in wanted if not self.started[s].converged(revision, names)]
            if not pending:
                return revision
            if time.monotonic() > deadline:
                detail = {
                    s: {
                        k["metadata"]["name"]: (ready_condition(k) or {}).get("message")
                        for k in self.started[s].kustomizations()
                    }
                    for s in pending
                }
                raise PeerFailed(f"not converged on {revision} within {timeout_s:g}s: {detail}")
            time.sleep(0.25)

    def pids(self) -> list[int]:
        procs = [self.etcd.process] + [p for s in self.started.values() for p in (s.api.process, *s.flux.processes)]
        return [p.pid for p in procs if p.pid is not None]

    def close(self) -> None:
        self._stack.close()


@contextlib.contextmanager
def real_peers(**options: Any) -> Iterator[RealPeers]:
    with RealPeers(**options) as peers:
        yield peers
