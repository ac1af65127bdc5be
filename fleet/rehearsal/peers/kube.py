"""Certificates, etcd and kube-apiserver on 127.0.0.1, and a small REST client for them."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.peers.base import Process, _http_ok

# --- certificates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A CA, a serving certificate for 127.0.0.1 signed by it, and a service-account key pair."""

    ca: Path
    cert: Path
    key: Path
    sa_key: Path
    sa_pub: Path

    @classmethod
    def generate(cls, where: Path) -> Certificates:
        where.mkdir(parents=True, exist_ok=True)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=where)

        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "7", "-subj", "/CN=fleet-peers-ca")
        openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver")
        (where / "server.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n"
        )
        openssl(
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "7", "-extfile", "server.ext",
        )
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "sa.key")
        openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub")
        return cls(where / "ca.crt", where / "server.crt", where / "server.key", where / "sa.key", where / "sa.pub")


# --- etcd and the API servers ------------------------------------------------------------------


class Etcd:
    """One etcd member on 127.0.0.1, without fsync: its data lives as long as the peers."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{free_port()}"
        self.process = Process(
            "etcd",
            [
                str(binary), "--name", "fleet", "--data-dir", str(workdir / "etcd"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"fleet={peer}", "--unsafe-no-fsync", "--log-level", "warn",
                "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}",
            ],
            workdir / "etcd.log",
        )

    def start(self, timeout_s: float = 30.0) -> Etcd:
        self.process.start()
        self.process.wait_until(lambda: _http_ok(f"{self.url}/health"), timeout_s, "healthy")
        return self

    def stop(self) -> None:
        self.process.stop()


class ApiServer:
    """One slot's kube-apiserver on a free port of 127.0.0.1, with a static admin token."""

    def __init__(
        self, slot: str, binary: Path, etcd: Etcd, certs: Certificates, workdir: Path, *, prefix: str | None = None,
        audit_log: Path | None = None,
    ) -> None:
        self.slot = slot
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.token = os.urandom(16).hex()
        self.certs = certs
        tokens = workdir / f"{slot}-tokens.csv"
        tokens.write_text(f'{self.token},fleet-admin,fleet-admin,"system:masters"\n')
        tokens.chmod(0o600)
        self.process = Process(
            f"kube-apiserver ({slot})",
            [
                str(binary),
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
                f"--etcd-servers={etcd.url}", f"--etcd-prefix={prefix or '/registry-' + slot}",
                f"--tls-cert-file={certs.cert}", f"--tls-private-key-file={certs.key}",
                f"--token-auth-file={tokens}", "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={certs.sa_pub}", f"--service-account-signing-key-file={certs.sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false", "--profiling=false", f"--cert-dir={workdir / slot}",
                "--v=0",
                *(_audit_flags(audit_log) if audit_log is not None else ()),
            ],
            workdir / f"{slot}-kube-apiserver.log",
        )
        self.context = ssl.create_default_context(cafile=str(certs.ca))

    def start(self, *, wait: bool = True, timeout_s: float = 120.0) -> ApiServer:
        self.process.start()
        if wait:
            self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        self.process.wait_until(
            lambda: _http_ok(f"{self.url}/readyz", context=self.context, token=self.token), timeout_s, "ready"
        )

    def stop(self) -> None:
        self.process.stop(timeout_s=15)

    def restart(self, timeout_s: float = 120.0) -> None:
        """Stop and start again on the same port and etcd prefix: the objects stay, the watches break."""
        self.stop()
        self.start(timeout_s=timeout_s)

    def kubeconfig(self) -> dict[str, Any]:
        import base64

        ca = base64.b64encode(self.certs.ca.read_bytes()).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.slot, "cluster": {"server": self.url, "certificate-authority-data": ca}}],
            "users": [{"name": "fleet-admin", "user": {"token": self.token}}],
            "contexts": [{"name": self.slot, "context": {"cluster": self.slot, "user": "fleet-admin"}}],
            "current-context": self.slot,
        }

    def rest(self) -> Rest:
        return Rest(self.url, self.token, self.context)


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "RequestResponse",
            "verbs": ["create", "update", "patch"],
            "resources": [
                {"group": "batch", "resources": ["cronjobs"]},
                {"group": "apps", "resources": ["deployments", "statefulsets"]},
                {"group": "kustomize.toolkit.fluxcd.io", "resources": ["kustomizations"]},
            ],
        },
        {"level": "None"},
    ],
}
"""What ``audit_log`` records: every write of a workload and of a Kustomization, with the object the API
server answered (JSON lines); everything else is left out."""


def _audit_flags(log: Path) -> list[str]:
    policy = log.with_name(f"{log.name}.policy.json")  # JSON is YAML: the API server reads either
    policy.write_text(json.dumps(AUDIT_POLICY))
    return [f"--audit-policy-file={policy}", f"--audit-log-path={log}", "--audit-log-format=json",
            "--audit-log-mode=blocking", "--audit-log-maxbackup=0"]


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


class Rest:
    """The few API calls the peers need (apply, get, merge patch), over urllib: no client to import."""

    def __init__(self, url: str, token: str, context: ssl.SSLContext) -> None:
        self.url = url
        self.token = token
        self.context = context

    @staticmethod
    def path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{base}{where}/{_plural(kind)}" + (f"/{name}" if name else "")

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
            return json.loads(response.read() or b"null")

    def apply(self, obj: Mapping[str, Any]) -> Any:
        """Server-side apply, as ``kubectl apply --server-side --force-conflicts`` does."""
        meta = obj["metadata"]
        path = self.path(str(obj["apiVersion"]), str(obj["kind"]), meta.get("namespace"), str(meta["name"]))
        return self.call("PATCH", f"{path}?fieldManager=fleet-peers&force=true", obj, "application/apply-patch+yaml")

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Any:
        return self.call("GET", self.path(api_version, kind, namespace, name))

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return list(self.call("GET", self.path(api_version, kind, namespace)).get("items") or [])

    def merge_patch(self, api_version: str, kind: str, namespace: str | None, name: str, patch: Any) -> Any:
        path = self.path(api_version, kind, namespace, name)
        return self.call("PATCH", path, patch, "application/merge-patch+json")
