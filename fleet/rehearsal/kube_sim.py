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
:class:`KubeApi` and what it needs (kinds, paths, merge patches, kubeconfigs)
are :mod:`fleet.rehearsal.kube_api`, re-exported here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

import kmock

from fleet.rehearsal.kube_api import CLUSTER_SCOPED, FLUX_KINDS, KubeApi, kind_info, kubeconfig_for, merge_patch

__all__ = ["CLUSTER_SCOPED", "FLUX_KINDS", "KubeApi", "KubeSim", "kind_info", "kubeconfig_for", "merge_patch"]

T = TypeVar("T")


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
