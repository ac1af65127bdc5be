"""Serves real clusters to rehearsals killed and resumed in other processes (tests only).

:class:`fleet.rehearsal.attached.AttachedClusters` is the client. The
clusters (:class:`fleet.rehearsal.peers.RealClusters`: API servers over one
etcd, real Flux, a Git server) live in the test's process, so a SIGKILLed
``fleet`` leaves them as they were; one request at a time, each idempotent.
Every API server writes its audit log into ``audit_dir``, and the moment each
cluster was destroyed is kept to close its intervals (:mod:`.audit_replay`).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fleet.rehearsal.peers import RealClusters

CONVERGE_S = 240.0


class ClusterHost:
    def __init__(self, clusters: RealClusters, audit_dir: Path) -> None:
        self.clusters = clusters
        self.audit_dir = audit_dir
        self.ended: dict[str, datetime] = {}
        """Audit log name (its cluster) -> when that cluster was destroyed."""
        self.calls: list[str] = []
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    answer: dict[str, Any] = {"result": host.handle(str(request["op"]), str(request["slot"]),
                                                                     request.get("patches"))}
                except Exception as err:  # the client raises it
                    answer = {"error": f"{type(err).__name__}: {err}"}
                data = json.dumps(answer).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller was killed while waiting: the work is done all the same

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> ClusterHost:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def handle(self, op: str, slot: str, patches: list[dict[str, Any]] | None = None) -> Any:
        with self.lock:
            if op != "kubeconfig":
                self.calls.append(f"{op} {slot}")
            clusters = self.clusters
            if op == "cluster":
                clusters.cluster(slot)
                return None
            if op == "bootstrap":
                self.bootstrap(slot, patches)
                return None
            if op == "kubeconfig":
                existing = clusters.slots.get(slot)
                return None if existing is None else existing.kubeconfig()
            if op == "destroy":
                if slot in clusters.slots:
                    log = self.log_of(slot)
                    clusters.destroy(slot)
                    self.ended[log] = datetime.now(UTC)
                return None
            raise ValueError(f"unknown op {op!r}")

    def bootstrap(self, slot: str, patches: list[dict[str, Any]] | None) -> None:
        """Flux started once per cluster, its sync objects created with ``patches``; back when the sync applied."""
        cluster = self.clusters.cluster(slot)
        if not cluster.flux.processes:
            cluster.flux.install_crds()
            cluster.flux.start()
            cluster.flux.bootstrap(self.clusters.repo_url, self.clusters.interval, patches=patches)
        revision = self.clusters.repo.revision()
        deadline = time.monotonic() + CONVERGE_S
        while not cluster.converged(revision, ["flux-system"]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{slot}: flux-system did not apply {revision} within {CONVERGE_S:g}s")
            time.sleep(0.25)

    def log_of(self, slot: str) -> str:
        """The name of the audit log of ``slot``'s current cluster."""
        logs = sorted(self.audit_dir.glob(f"*-{slot}.audit.jsonl"), key=lambda p: int(p.name.split("-")[0]))
        return logs[-1].name

    def logs(self) -> list[tuple[str, str, Path]]:
        """Every cluster's audit log: (name, slot, path), oldest cluster first."""
        paths = sorted(self.audit_dir.glob("*.audit.jsonl"), key=lambda p: int(p.name.split("-")[0]))
        return [(p.name, p.name.split("-", 1)[1].split(".")[0], p) for p in paths]
