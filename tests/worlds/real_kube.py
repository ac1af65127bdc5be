"""A real kube-apiserver that tests and benchmarks script like :class:`fleet.rehearsal.kube_sim.KubeSim`.

kmock answers the way we think an API server answers; this one is the API
server. :class:`RealKube` serves Flux's CRDs without Flux's controllers, so
a test writes the objects *and their statuses* itself (through the status
subresource, as a controller does) and sees what the real server makes of
them: resourceVersions from etcd, ``metadata.generation`` kept by the server,
schema validation of the CRDs, the watch cache. ``put`` keeps a scripted
object's ``observedGeneration`` relative to its ``generation`` (equal stays
equal, one behind stays one behind), because the server, not the test, owns
``generation`` (the conditions' ``observedGeneration`` move with it).

Two more concessions to the real server, both because the test objects are
sketches: a Deployment gets the pod template the server requires, and the
kinds whose controllers the peers do not include (HelmRelease: the Go module
proxy refuses helm-controller; flux-operator's kinds) are served by stand-in
CRDs that accept any spec and status, so the gate can be tested on them.

Start one with :func:`real_kube` (it skips nothing: a missing build raises
:class:`fleet.rehearsal.peers.PeersNotBuilt`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import urllib.error
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fleet.domain.health import KINDS, KindInfo
from fleet.rehearsal.peers import RealPeers, Slot


def _stand_in_crd(info: KindInfo) -> dict[str, Any]:
    """A CRD that serves ``info`` with any spec and status: for kinds whose real CRD is not built."""
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{info.plural}.{info.group}"},
        "spec": {
            "group": info.group,
            "names": {"kind": info.kind, "plural": info.plural, "listKind": f"{info.kind}List"},
            "scope": "Namespaced",
            "versions": [{"name": info.version, "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": schema}, "subresources": {"status": {}}}],
        },
    }


def _pod_template(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    labels = dict((spec.get("selector") or {}).get("matchLabels") or {"app": obj["metadata"]["name"]})
    spec["selector"] = {"matchLabels": labels}
    spec.setdefault("template", {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "manager", "image": "registry.invalid/flux/controller:v0"}]},
    })


class RealKube:
    """One slot's real API server with Flux's CRDs and no controllers, scripted object by object."""

    def __init__(self, slot: Slot) -> None:
        self.slot = slot
        self.rest = slot.rest()
        self._namespaces: set[str] = set()
        self.stand_ins = self._serve_missing_kinds()
        """The kinds served by stand-in CRDs (no real CRD was built for them)."""

    def _serve_missing_kinds(self) -> tuple[str, ...]:
        served = {
            crd["metadata"]["name"]
            for crd in self.rest.list("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        }
        missing = [
            info for info in KINDS.values() if info.group != "apps" and f"{info.plural}.{info.group}" not in served
        ]
        for info in missing:
            self.rest.apply(_stand_in_crd(info))
        self.slot.flux.wait_established([f"{info.plural}.{info.group}" for info in missing])
        return tuple(info.kind for info in missing)

    @property
    def url(self) -> str:
        return self.slot.api.url

    def kubeconfig(self) -> dict[str, Any]:
        return self.slot.kubeconfig()

    def _namespace(self, name: str) -> None:
        if name and name not in self._namespaces:
            self.rest.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            self._namespaces.add(name)

    def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace ``obj``, then its status: watchers see the spec change and the status change."""
        meta = dict(obj.get("metadata") or {})
        namespace = meta.get("namespace")
        self._namespace(str(namespace or ""))
        api_version, kind, name = str(obj["apiVersion"]), str(obj["kind"]), str(meta["name"])
        body = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
        body["metadata"] = {k: v for k, v in meta.items() if k in ("name", "namespace", "labels", "annotations")}
        if kind == "Deployment":
            _pod_template(body)
        applied: dict[str, Any] = self.rest.apply(body)
        status = obj.get("status")
        if status is None:
            return applied
        status = copy.deepcopy(dict(status))
        scripted_generation = meta.get("generation")
        if scripted_generation is not None:
            shift = int(applied["metadata"].get("generation", 1)) - int(scripted_generation)
            if "observedGeneration" in status:
                status["observedGeneration"] = int(status["observedGeneration"]) + shift
            for c in status.get("conditions") or []:
                if "observedGeneration" in c:
                    c["observedGeneration"] = int(c["observedGeneration"]) + shift
        applied["status"] = status
        path = self.rest.path(api_version, kind, namespace, name) + "/status"
        result: dict[str, Any] = self.rest.call("PUT", path, applied)
        return result

    def put_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        for obj in objs:
            self.put(obj)

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        info = KINDS[kind]
        with contextlib.suppress(urllib.error.HTTPError):
            self.rest.call("DELETE", self.rest.path(info.api_version, kind, namespace, name))

    def reset(self) -> None:
        """Delete every object of the gate's kinds in the namespaces ``put`` used: the next test starts empty."""
        for namespace in sorted(self._namespaces):
            for info in KINDS.values():
                with contextlib.suppress(urllib.error.HTTPError):
                    self.rest.call("DELETE", self.rest.path(info.api_version, info.kind, namespace))


class AsyncRealKube:
    """:class:`RealKube` with :class:`fleet.rehearsal.kube_sim.KubeApi`'s coroutines, for the async gate tests."""

    def __init__(self, kube: RealKube) -> None:
        self.kube = kube

    @property
    def url(self) -> str:
        return self.kube.url

    def kubeconfig(self) -> dict[str, Any]:
        return self.kube.kubeconfig()

    async def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.kube.put, obj)

    async def put_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        await asyncio.to_thread(self.kube.put_all, list(objs))

    async def delete(self, kind: str, namespace: str | None, name: str) -> None:
        await asyncio.to_thread(self.kube.delete, kind, namespace, name)


@contextlib.contextmanager
def real_kube(**options: Any) -> Iterator[RealKube]:
    """One real API server (slot ``green``) with Flux's CRDs and no Flux, stopped on exit."""
    options.setdefault("slots", ("green",))
    with RealPeers(start_flux=False, **options) as peers:
        yield RealKube(peers.slot(options["slots"][0]))
