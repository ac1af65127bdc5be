"""What a real Kubernetes API server adds to kmock's emulator: resourceVersions, installed kinds, replacement.

kmock's ``KubernetesEmulator`` serves lists, watches and object changes;
:class:`KubeApi` drives one that is already running in an event loop (the
pytest ``kmock`` fixture, or :class:`fleet.rehearsal.kube_sim.KubeSim`'s
thread): ``await put(obj)`` creates or replaces an object through the
emulator's own HTTP API, so every watcher sees an ADDED or MODIFIED event with
a fresh ``metadata.resourceVersion``; a kind that is not installed answers
404 like a CRD that is missing. Also here: where the API serves a kind
(:func:`kind_info`), the merge patch that turns one object into another, and
a kubeconfig with a random dummy token (never a real credential).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import kmock

from fleet.domain.health import KINDS, KindInfo

_EXTRA_KINDS = {
    info.kind: info
    for info in (
        KindInfo("Namespace", "", "v1", "namespaces"),
        KindInfo("ConfigMap", "", "v1", "configmaps"),
        KindInfo("HelmRepository", "source.toolkit.fluxcd.io", "v1", "helmrepositories"),
        KindInfo("HelmChart", "source.toolkit.fluxcd.io", "v1", "helmcharts"),
        KindInfo("Bucket", "source.toolkit.fluxcd.io", "v1", "buckets"),
    )
}
CLUSTER_SCOPED = frozenset({"Namespace"})
FLUX_KINDS = tuple(k for k in KINDS if k != "Deployment")
"""The custom resources a Flux (and flux-operator) installation adds; Deployments are built in."""


def kind_info(obj_or_kind: Mapping[str, Any] | str) -> KindInfo:
    """Where the API serves a kind, from the known table or guessed from ``apiVersion``."""
    if isinstance(obj_or_kind, str):
        kind, api_version = obj_or_kind, ""
    else:
        kind, api_version = str(obj_or_kind.get("kind", "")), str(obj_or_kind.get("apiVersion", ""))
    known = KINDS.get(kind) or _EXTRA_KINDS.get(kind)
    if known is not None:
        return known
    if not kind or not api_version:
        raise ValueError(f"cannot tell the resource of {obj_or_kind!r}: give kind and apiVersion")
    group, _, version = api_version.rpartition("/")
    plural = kind.lower()
    plural = plural[:-1] + "ies" if plural.endswith("y") else plural + ("es" if plural.endswith("s") else "s")
    return KindInfo(kind, group, version, plural)


def _collection_path(info: KindInfo, namespace: str | None) -> str:
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    if namespace and info.kind not in CLUSTER_SCOPED:
        return f"{base}/namespaces/{namespace}/{info.plural}"
    return f"{base}/{info.plural}"


def _resource(info: KindInfo) -> kmock.resource:
    return kmock.resource(info.group, info.version, info.plural)


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``: removed keys become None."""
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif key not in old or before != value:
            patch[key] = value
    return patch


def kubeconfig_for(url: str, token: str, *, name: str = "kube-sim") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


class KubeApi:
    """Scripted changes to a running kmock emulator, as a real API server would make them."""

    def __init__(self, handler: kmock.KubernetesEmulator, *, token: str | None = None) -> None:
        self.handler = handler
        self.token = token or secrets.token_hex(16)
        self._versions = itertools.count(1000)

    @property
    def url(self) -> str:
        return str(self.handler.url).rstrip("/")

    def kubeconfig(self) -> dict[str, Any]:
        return kubeconfig_for(self.url, self.token)

    def install(self, kinds: Iterable[str] = FLUX_KINDS) -> None:
        """Serve these kinds (like installing their CRDs): lists answer ``[]`` instead of 404."""
        for kind in (*kinds, "Deployment"):
            info = kind_info(kind)
            self.handler.resources[_resource(info)] = kmock.ResourceInfo(
                kind=info.kind, namespaced=info.kind not in CLUSTER_SCOPED
            )

    def uninstall(self, kinds: Iterable[str] = FLUX_KINDS) -> None:
        for kind in kinds:
            resource = _resource(kind_info(kind))
            if resource in self.handler.resources:
                del self.handler.resources[resource]

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (_resource(kind_info(kind)), namespace or None, name)
        if key not in self.handler.objects or self.handler.objects[key].deleted:
            return None
        return dict(self.handler.objects[key].raw)

    async def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``obj`` or replace the stored one (watchers see ADDED or MODIFIED)."""
        info = kind_info(obj)
        meta = dict(obj.get("metadata") or {})
        name, namespace = str(meta["name"]), meta.get("namespace")
        meta["resourceVersion"] = str(next(self._versions))
        new = {"apiVersion": info.api_version, "kind": info.kind, **obj, "metadata": meta}
        current = self.get(info.kind, namespace, name)
        path = _collection_path(info, namespace)
        if current is None:
            response = await self.handler.post(path, json=new)
        else:
            response = await self.handler.patch(f"{path}/{name}", json=merge_patch(current, new))
        async with response:
            if response.status >= 300:
                raise RuntimeError(f"kmock refused {info.kind} {namespace}/{name}: {await response.text()}")
            body: dict[str, Any] = await response.json()
        return body

    async def put_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        for obj in objs:
            await self.put(obj)

    async def delete(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete an object (watchers see DELETED); a missing object is not an error."""
        info = kind_info(kind)
        if self.get(kind, namespace, name) is None:
            return
        response = await self.handler.delete(f"{_collection_path(info, namespace)}/{name}")
        async with response:
            if response.status >= 300 and response.status != 404:
                raise RuntimeError(f"kmock refused to delete {kind} {namespace}/{name}: {await response.text()}")
