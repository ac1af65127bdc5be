"""A Kubernetes API on 127.0.0.1 that tests and ``fleet rehearse`` can script, built on kmock.

The health gate is only worth trusting if it is tested over real HTTP with the
official client, watches included, and a rehearsal of a cutover needs the
same thing without a cluster. kmock's ``KubernetesEmulator`` serves lists,
watches and object changes, but leaves what a real API server adds to us:
resourceVersions, which resources exist (a CRD that is not installed answers
404), and replacing an object rather than merging into it. This module adds
exactly that:

* :class:`KubeApi` drives an emulator that is already running in an event
  loop (the pytest ``kmock`` fixture): ``await put(obj)`` creates or replaces
  an object through the emulator's own HTTP API, so every watcher sees an
  ADDED or MODIFIED event, with a fresh ``metadata.resourceVersion``;
* :class:`KubeSim` runs an emulator in a background thread with its own
  event loop on a free port, for synchronous callers (the rehearsal, the
  benchmark): ``put``, ``delete``, ``kubeconfig()``, ``stop()``.

The kubeconfig carries a random dummy token: never a real credential.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

import kmock

from fleet.domain.health import KINDS, KindInfo

T = TypeVar("T")

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


class _ForgetfulEmulator(kmock.KubernetesEmulator):
    """An emulator whose request log holds only the requests in flight (see ``KubeSim``).

    kmock picks a request's reaction by looking for that very request object
    in its log, after waiting for its lock; a request may only leave the log
    once it has been answered, or a concurrent one would find no reaction.
    """

    async def _handle(self, request: Any) -> Any:
        try:
            return await super()._handle(request)
        finally:
            # kmock has no public way to drop from its log; ``_requests`` is the list it keeps.
            log = self._requests
            for index, logged in enumerate(log):
                if logged is request:
                    del log[index]
                    break


class KubeSim:
    """A kmock Kubernetes API in a background thread, for synchronous code."""

    def __init__(self, *, flux_installed: bool = True, forget_requests: bool = False) -> None:
        """``forget_requests``: log only the requests in flight, for long runs.

        kmock records every request and matches each new one against that whole
        history, so a server that lives for thousands of requests slows down
        steadily: a list costs 8 ms on a fresh server and 19 ms seven lists
        later, 100+ ms after a few hundred watches. Forgetting each request once
        it is answered keeps a list at 3-4 ms, at the price of request
        assertions and of reactions sliced by request count (``kmock[...][:1]``).
        """
        self._flux_installed = flux_installed
        self._forget_requests = forget_requests
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._api: KubeApi | None = None
        self._stopped: asyncio.Event | None = None

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> KubeSim:
        if self._thread is not None:
            raise RuntimeError("the simulator is already started")
        started: Future[None] = Future()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="kube-sim", daemon=True)
        self._thread.start()
        started.result(timeout=10)
        return self

    def _serve(self, started: Future[None]) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main(started))
        except BaseException as err:
            if not started.done():
                started.set_exception(err)
        finally:
            self._loop.close()

    async def _main(self, started: Future[None]) -> None:
        self._stopped = asyncio.Event()
        emulator = _ForgetfulEmulator if self._forget_requests else kmock.KubernetesEmulator
        async with emulator() as handler, kmock.Server(handler):
            self._api = KubeApi(handler)
            if self._flux_installed:
                self._api.install()
            else:
                self._api.install(())
            started.set_result(None)
            await self._stopped.wait()

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            raise RuntimeError("the simulator is not started")
        return self._api

    @property
    def handler(self) -> kmock.KubernetesEmulator:
        """The kmock emulator, to add reactions (errors, 410s) through :meth:`call`."""
        return self.api.handler

    @property
    def url(self) -> str:
        return self.api.url

    def kubeconfig(self) -> dict[str, Any]:
        return self.api.kubeconfig()

    def call(self, fn: Callable[[kmock.KubernetesEmulator], T]) -> T:
        """Run ``fn(handler)`` in the server's loop (kmock is not thread-safe)."""

        async def run() -> T:
            return fn(self.handler)

        return self._run(run())

    def install_flux(self) -> None:
        self.call(lambda _: self.api.install())

    def uninstall_flux(self) -> None:
        self.call(lambda _: self.api.uninstall())

    def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return self._run(self.api.put(obj))

    def put_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        self._run(self.api.put_all(list(objs)))

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        self._run(self.api.delete(kind, namespace, name))

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.call(lambda _: self.api.get(kind, namespace, name))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the simulator is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._stopped is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._api = None
