"""Everything outside fleet in a rehearsal, served from a process of its own.

In production, the clusters' API servers, Flux, the slots' ingresses and the
users sending requests all run somewhere else; only the engine runs in
fleet's process. The rehearsal keeps it that way. Run in-process, the
KubeSims' event loops, the Flux simulator, two HTTP backends and a load
generator at 200 requests/s competed with the engine and the health gate for
one interpreter lock, and the rehearsal (which is the benchmark of fleet's
own overhead) measured that contention as fleet's. Here the engine reaches
all of it the way it would for real: over HTTP, through HAProxy and with the
slots' kubeconfigs.

The parent drives the host with one JSON request per line on the child's
stdin and reads one JSON answer per line, echoing the request's ``id``, from
its stdout. The host stops
everything it started and exits when its stdin closes, so a rehearsal killed
by the ``crash-after`` fault (SIGKILL, no clean-up) leaves nothing behind.

Requests (``slot`` and ``name`` are slot names):

* ``{"op": "cluster", "slot": ...}`` starts that slot's Kubernetes API (unless
  it runs) and answers its ``url`` and ``kubeconfig``; ``install_flux`` /
  ``uninstall_flux`` add or remove Flux's CRDs; ``destroy`` retires it, so
  that the next ``cluster`` starts an empty one;
* ``{"op": "flux", "slot": ..., "action": ..., "spec": ..., "reconcile_s": ...}``
  runs one of FluxSim's ``install``, ``start``, ``restore``, ``suspend``, ``stop``;
* ``{"op": "backend", "name": ..., "error_rate": ..., "latency_s": ...}``
  starts the slot's ingress and answers its ``address``;
* ``{"op": "converge", "slot": ..., "timeout_s": ...}`` waits until every
  Kustomization of the slot is Ready at the repository's HEAD and answers
  that revision (the real world only: the rehearsal's existing slot is
  healthy before the cutover starts);
* ``{"op": "revision", "slot": ...}`` answers the Git revision Flux last
  applied on that slot (``main@sha1:...``; the real world only);
* ``{"op": "load_start", "url": ..., "rate": ..., "total": ..., "time_limit_s": ...,
  "threads": ...}`` and ``{"op": "load_stop"}``, which answers every request
  the load generator sent as ``[at, status, slot, latency_s, error, resolved_at]``
  (``at`` on the system-wide monotonic clock, which the parent shares);
  with ``"dns": {...}`` the users find the slots through caching resolvers
  in front of Route53 instead (:func:`fleet.rehearsal.resolvers.dns_load`).

The host runs one of two worlds (``python -m fleet.rehearsal.host_server --world``, :mod:`fleet.rehearsal.host_server`):
``kmock`` (the default: KubeSims with a simulated Flux, quick) or ``real``
(:class:`fleet.rehearsal.peers.RealClusters`: a kube-apiserver per cluster
over one etcd, and real Flux controllers reconciling a real Git repository;
the Flux spec's revision and faults are then ignored, Git decides).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fleet.domain.model import SlotName
from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.load import RequestRecord
from fleet.rehearsal.procs import spawn

FLUX_ACTIONS = ("install", "start", "restore", "suspend", "fail", "stop")


class HostError(RuntimeError):
    """The rehearsal host refused a request or is gone."""


class Host:
    """The parent's handle on the host process: start it, send it requests, stop it.

    Every request carries an id that its answer echoes: an answer left in the
    pipe by a call that was interrupted (Ctrl-C between asking and reading) is
    skipped by the next call instead of being taken for its answer. A host that
    does not answer within ``timeout_s`` is killed, and every later call fails.
    """

    def __init__(self, *, timeout_s: float = 30.0, log: Path | None = None, world: str = "kmock") -> None:
        self.world = world
        self.timeout_s = timeout_s if world == "kmock" else max(timeout_s, 300.0)
        self.log = log
        """Where the host's stderr goes (its tracebacks); nowhere when None."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending = b""

    def start(self) -> Host:
        with contextlib.ExitStack() as files:
            stderr: Any = subprocess.DEVNULL
            if self.log is not None:
                stderr = files.enter_context(self.log.open("ab"))
            # Killed by the kernel with the rehearsal, even on SIGKILL (procs.spawn).
            self._proc = spawn(
                [sys.executable, "-m", "fleet.rehearsal.host_server", "--world", self.world],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                bufsize=0,
                # Ctrl-C goes to the rehearsal, which stops the host in order (the load's records first).
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def call(self, op: str, **args: Any) -> Any:
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.stdout is None or proc.poll() is not None:
                raise HostError(f"the rehearsal host is not running (asked to {op})")
            ident = next(self._ids)
            try:
                proc.stdin.write((json.dumps({"id": ident, "op": op, **args}) + "\n").encode())
                answer = self._answer(proc, ident, time.monotonic() + self.timeout_s)
            except OSError as err:
                raise HostError(f"the rehearsal host is gone (asked to {op}): {err}") from err
            if answer is None:
                self.kill()
                raise HostError(
                    f"the rehearsal host did not answer within {self.timeout_s:g}s (asked to {op}); stopped it"
                )
        if "error" in answer:
            raise HostError(f"the rehearsal host could not {op}: {answer['error']}")
        return answer.get("ok")

    def _answer(self, proc: subprocess.Popen[bytes], ident: int, deadline: float) -> dict[str, Any] | None:
        """The answer to request ``ident``; None when the deadline passes first."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while True:
            while b"\n" in self._pending:
                line, self._pending = self._pending.split(b"\n", 1)
                answer: dict[str, Any] = json.loads(line)
                if answer.get("id") == ident:
                    return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise HostError("the rehearsal host exited")
            self._pending += chunk

    def cluster(self, slot: SlotName) -> RemoteCluster:
        started = self.call("cluster", slot=slot.value)
        return RemoteCluster(self, slot, str(started["url"]), dict(started["kubeconfig"]))

    def flux(self, slot: SlotName, spec: Any, *, reconcile_s: float) -> RemoteFlux:
        return RemoteFlux(self, slot, spec, reconcile_s)

    def revision(self, slot: SlotName) -> str | None:
        """The revision Flux last applied on the slot (real world; None on kmock)."""
        answer = self.call("revision", slot=slot.value)
        return None if answer is None else str(answer)

    def backend(
        self, name: str, *, error_rate: float = 0.0, latency_s: float = 0.0, path_errors: dict[str, float] | None = None
    ) -> RemoteBackend:
        started = self.call("backend", name=name, error_rate=error_rate, latency_s=latency_s,
                            path_errors=path_errors or {})
        host, port = started["address"]
        return RemoteBackend(name, (str(host), int(port)))

    def start_load(
        self, url: str, *, rate: float, total: int, time_limit_s: float, threads: int,
        paths: list[tuple[str, float]] | None = None,
    ) -> None:
        self.call("load_start", url=url, rate=rate, total=total, time_limit_s=time_limit_s, threads=threads,
                  paths=paths or [])

    def stop_load(self) -> list[RequestRecord]:
        """Stop the load generator; every request it sent, in order of starting."""
        return [RequestRecord(*row) for row in self.call("load_stop")]

    def kill(self) -> None:
        """Before the rehearsal kills itself: do not wait for the host to notice."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        wait_or_kill(proc, 15 if self.world == "kmock" else 60)
        if proc.stdout is not None:
            proc.stdout.close()


class RemoteCluster:
    """One slot's Kubernetes API in the host: what the provisioner hands out."""

    def __init__(self, host: Host, slot: SlotName, url: str, kubeconfig: dict[str, Any]) -> None:
        self.host = host
        self.slot = slot
        self.url = url
        self._kubeconfig = kubeconfig

    def kubeconfig(self) -> dict[str, Any]:
        return dict(self._kubeconfig)

    def install_flux(self) -> None:
        self.host.call("install_flux", slot=self.slot.value)

    def uninstall_flux(self) -> None:
        self.host.call("uninstall_flux", slot=self.slot.value)

    def destroy(self) -> None:
        self.host.call("destroy", slot=self.slot.value)


class RemoteBackend:
    """One slot's ingress in the host: where HAProxy sends that slot's share."""

    def __init__(self, name: str, address: tuple[str, int]) -> None:
        self.name = name
        self.address = address

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}/"


class RemoteFlux:
    """One slot's FluxSim in the host, with FluxSim's verbs."""

    def __init__(self, host: Host, slot: SlotName, spec: Any, reconcile_s: float) -> None:
        self.host = host
        self.slot = slot
        self.spec = spec
        self.reconcile_s = reconcile_s

    def _do(self, action: str) -> None:
        self.host.call(
            "flux", slot=self.slot.value, action=action, spec=self.spec.to_json(), reconcile_s=self.reconcile_s
        )

    def install(self) -> None:
        self._do("install")

    def start(self) -> None:
        self._do("start")

    def restore(self) -> None:
        self._do("restore")

    def suspend(self) -> None:
        self._do("suspend")

    def fail(self) -> None:
        self._do("fail")

    def stop(self) -> None:
        with contextlib.suppress(HostError):  # the host is already gone, and its Flux with it
            self._do("stop")
