"""Real peers on 127.0.0.1: etcd, one kube-apiserver per slot, Flux's controllers and a Git server.

Everything fleet decides about a slot's health it decides from Flux objects,
and the behaviour that matters (resourceVersions and 410s, the status
subresource, generation bumps, ``Ready=Unknown`` at every reconcile, a commit
landing mid-wait) is only faithful when the real programs produce it. This
module runs them as local processes from the binaries that
``tools/peers/build.py`` builds into ``~/.cache/fleet-peers/``:

* one etcd, shared by the slots, each API server under its own ``--etcd-prefix``;
* per slot a kube-apiserver with a generated serving certificate, a
  service-account key pair and issuer and a static token (127.0.0.1 only);
* per slot Flux's CRDs (from the controllers' own modules) and their
  source-controller and kustomize-controller, run outside the cluster with a
  kubeconfig, leader election off, metrics and health on free ports;
* a Git server (``git http-backend`` behind Python's HTTP server: Flux speaks
  only http(s) and ssh) serving a multi-tenant GitOps repository that
  :class:`GitOpsRepo` writes and tests commit to.

Nothing here downloads anything; a missing binary raises
:class:`PeersNotBuilt` with the command that builds it. Every process is
started in its own session and stopped by its PID; the working directory
(certificates, etcd's data, logs, artifacts) is removed on exit unless it was
given by the caller.

helm-controller is not among the peers: the Go module proxy refuses its
module (see tools/peers/versions.toml), so the repository has no HelmRelease.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.procs import spawn

BUILD_COMMAND = "python3 tools/peers/build.py"
"""What builds the peers (from the repository's root): printed whenever they are missing."""

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "tools" / "peers" / "versions.toml"
REQUIRED = ("etcd", "kube-apiserver", "source-controller", "kustomize-controller")
FLUX_NAMESPACE = "flux-system"


class PeersNotBuilt(RuntimeError):
    """A binary the real world needs is not in the peers' cache; the message says how to build it."""


REQUIRE_ENV = "FLEET_REQUIRE_PEERS"
"""Set (CI does, after building them): tests fail instead of skipping when the peers are missing."""


class PeerFailed(RuntimeError):
    """A peer process exited or did not become ready in time; the message ends with its log's tail."""


def cache_dir() -> Path:
    return Path(os.environ.get("FLEET_PEERS_CACHE", str(Path.home() / ".cache" / "fleet-peers")))


@dataclass(frozen=True)
class Binaries:
    """Where the built peers are, by component name, and the versions they were built from."""

    bin: Mapping[str, Path]
    crds: tuple[Path, ...]
    versions: Mapping[str, str]

    @classmethod
    def find(cls, cache: Path | None = None) -> Binaries:
        """The built peers named in tools/peers/versions.toml, or :class:`PeersNotBuilt`."""
        cache = cache or cache_dir()
        pinned: dict[str, str] = {}
        if VERSIONS_FILE.exists():
            components = tomllib.loads(VERSIONS_FILE.read_text())["components"]
            pinned = {name: str(c["version"]) for name, c in components.items() if name in REQUIRED}
        else:  # an installed fleet without the repository: take whatever was built
            for name in REQUIRED:
                stamps = sorted(cache.glob(f"{name}-v*/build.json"))
                if stamps:
                    pinned[name] = stamps[-1].parent.name[len(name) + 1 :]
        found: dict[str, Path] = {}
        crds: list[Path] = []
        missing = []
        for name in REQUIRED:
            out = cache / f"{name}-{pinned.get(name, '?')}"
            binary = out / "bin" / name
            if not (out / "build.json").exists() or not binary.exists():
                missing.append(f"{name} {pinned.get(name, '')}".strip())
                continue
            found[name] = binary
            crds.extend(sorted((out / "crds").glob("*.yaml")))
        if missing:
            raise PeersNotBuilt(
                f"real peers not built ({', '.join(missing)} missing in {cache}); build them with "
                f"`{BUILD_COMMAND}` (about an hour cold on 2 shared cores, a second when cached)"
            )
        return cls(bin=found, crds=tuple(crds), versions=pinned)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- processes ---------------------------------------------------------------------------------


class Process:
    """One peer process: started in its own session with its output in a log, stopped by its PID."""

    def __init__(self, name: str, argv: list[str], log: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = dict(env) if env is not None else None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            # Killed by the kernel when the thread that started it dies, even on SIGKILL (procs.spawn).
            self.proc = spawn(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        wait_or_kill(proc, timeout_s)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.running():
                raise PeerFailed(f"{self.name} exited before {what}:\n{self.tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                if ready():
                    return
            if time.monotonic() >= deadline:
                raise PeerFailed(f"{self.name}: not {what} within {timeout_s:g}s:\n{self.tail()}")
            time.sleep(0.2)


def _http_ok(url: str, *, context: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=2, context=context) as response:
        return int(response.status) == 200


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
        self, slot: str, binary: Path, etcd: Etcd, certs: Certificates, workdir: Path, *, prefix: str | None = None
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


# --- Git ---------------------------------------------------------------------------------------


class _GitHandler(BaseHTTPRequestHandler):
    """git's smart HTTP protocol: each request handed to ``git http-backend`` as CGI."""

    protocol_version = "HTTP/1.1"
    root: Path

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        backend = ["git", "http-backend"]
        out = subprocess.run(backend, check=False, input=body, env=env, capture_output=True, timeout=60).stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, payload = out.partition(sep)
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitServer:
    """Serves the bare repositories under ``root`` at ``http://127.0.0.1:<port>/<name>.git``."""

    def __init__(self, root: Path) -> None:
        handler = type("Handler", (_GitHandler,), {"root": root})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fleet-git-server", daemon=True)

    def start(self) -> GitServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class GitOpsRepo:
    """A bare repository with a work tree beside it; tests change files and commit, as a tenant would."""

    def __init__(self, root: Path, name: str = "fleet") -> None:
        self.bare = root / "git" / f"{name}.git"
        self.tree = root / f"{name}-tree"
        self.name = name
        self.tree.mkdir(parents=True)
        self._git("init", "--bare", "-q", "-b", "main", str(self.bare), git_dir=False)
        self._lock = threading.Lock()

    def _git(self, *args: str, git_dir: bool = True) -> str:
        prefix = ["git", f"--git-dir={self.bare}", f"--work-tree={self.tree}"] if git_dir else ["git"]
        env = dict(
            os.environ, GIT_AUTHOR_NAME="fleet", GIT_AUTHOR_EMAIL="fleet@example.invalid",
            GIT_COMMITTER_NAME="fleet", GIT_COMMITTER_EMAIL="fleet@example.invalid", GIT_CONFIG_NOSYSTEM="1",
        )
        done = subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, env=env)
        return done.stdout.strip()

    def write(self, files: Mapping[str, str | None]) -> None:
        """Write (or, for None, remove) files in the work tree."""
        for rel, text in files.items():
            path = self.tree / rel
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)

    def commit(self, message: str, files: Mapping[str, str | None] | None = None) -> str:
        """Write ``files``, commit everything on main; the new revision as Flux names it (main@sha1:...)."""
        with self._lock:
            self.write(files or {})
            self._git("add", "-A")
            self._git("commit", "-q", "--allow-empty", "-m", message)
            return self.revision()

    def revision(self) -> str:
        return f"main@sha1:{self._git('rev-parse', 'HEAD')}"

    def read(self, rel: str) -> str:
        return (self.tree / rel).read_text()


# --- the GitOps repository ---------------------------------------------------------------------

TENANTS = ("team-a", "team-b")


def _docs(*objs: Mapping[str, Any]) -> str:
    return yaml.safe_dump_all([dict(o) for o in objs], sort_keys=False)


def kustomization(name: str, path: str, interval: str, *, depends_on: Iterable[str] = (), wait: bool = True,
                  namespace: str = FLUX_NAMESPACE) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": interval,
        "retryInterval": interval,
        "timeout": "2m",
        "path": path,
        "prune": True,
        "wait": wait,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": FLUX_NAMESPACE},
    }
    deps = list(depends_on)
    if deps:
        spec["dependsOn"] = [{"name": d, "namespace": FLUX_NAMESPACE} for d in deps]
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def git_repository(url: str, interval: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": FLUX_NAMESPACE},
        "spec": {"interval": interval, "url": url, "ref": {"branch": "main"}, "timeout": "30s"},
    }


def tenant_manifests(tenant: str, *, greeting: str = "hello") -> dict[str, str]:
    """One tenant's namespace and the objects in it: all Current at once, without a kubelet."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": tenant, "labels": {"tenant": tenant}}}
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-config", "namespace": tenant},
        "data": {"greeting": greeting, "tenant": tenant},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "app", "namespace": tenant},
        "spec": {"selector": {"app": "app"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "app-reader", "namespace": tenant},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "app-reader", "namespace": tenant},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app-reader"},
        "subjects": [{"kind": "Group", "name": f"{tenant}:developers", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    widget = {
        "apiVersion": "platform.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": f"{tenant}-widget", "namespace": tenant},
        "spec": {"size": 3},
    }
    return {
        f"tenants/{tenant}/namespace.yaml": _docs(ns),
        f"tenants/{tenant}/app.yaml": _docs(config, service, role, binding),
        f"tenants/{tenant}/widget.yaml": _docs(widget),
    }


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.platform.example.com"},
    "spec": {
        "group": "platform.example.com",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}
                        },
                    }
                },
            }
        ],
    },
}


def repository_files(url: str, interval: str) -> dict[str, str]:
    """A multi-tenant GitOps repository as a platform team lays it out.

    ``clusters/local`` is what each cluster's ``flux-system`` Kustomization
    applies: Flux's own sync objects, the ``infrastructure`` Kustomization
    (a CRD, a shared namespace, cluster RBAC) and one Kustomization per
    tenant that ``dependsOn`` infrastructure (a tenant's Widget needs the CRD).
    """
    platform_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "platform"}}
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "widget-editor"},
        "rules": [{"apiGroups": ["platform.example.com"], "resources": ["widgets"], "verbs": ["*"]}],
    }
    platform_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "platform-settings", "namespace": "platform"},
        "data": {"owner": "platform-team"},
    }
    files = {
        "clusters/local/flux-system/gotk-sync.yaml": _docs(
            git_repository(url, interval), kustomization("flux-system", "./clusters/local", interval, wait=False)
        ),
        "clusters/local/infrastructure.yaml": _docs(kustomization("infrastructure", "./infrastructure", interval)),
        "clusters/local/tenants.yaml": _docs(
            *(kustomization(t, f"./tenants/{t}", interval, depends_on=["infrastructure"]) for t in TENANTS)
        ),
        "infrastructure/crds.yaml": _docs(WIDGET_CRD),
        "infrastructure/platform.yaml": _docs(platform_ns, platform_config, cluster_role),
        "README.md": "# fleet's rehearsal GitOps repository\n\nWritten by fleet.rehearsal.peers.\n",
    }
    for tenant in TENANTS:
        files.update(tenant_manifests(tenant))
    return files


# --- Flux --------------------------------------------------------------------------------------


class Flux:
    """One slot's Flux: its CRDs in the API server, its controllers as local processes."""

    def __init__(self, api: ApiServer, binaries: Binaries, workdir: Path) -> None:
        self.api = api
        self.binaries = binaries
        self.workdir = workdir / f"{api.slot}-flux"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = self.workdir / "kubeconfig"
        self.processes: list[Process] = []
        self.storage = f"127.0.0.1:{free_port()}"

    def install_crds(self, timeout_s: float = 60.0) -> None:
        rest = self.api.rest()
        names = []
        for path in self.binaries.crds:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    rest.apply(doc)
                    names.append(doc["metadata"]["name"])
        self.wait_established(names, timeout_s)

    def wait_established(self, names: Iterable[str], timeout_s: float = 60.0) -> None:
        rest = self.api.rest()
        deadline = time.monotonic() + timeout_s
        for name in names:
            while not _established(rest.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name)):
                if time.monotonic() > deadline:
                    raise PeerFailed(f"{self.api.slot}: CRD {name} not established within {timeout_s:g}s")
                time.sleep(0.1)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start source-controller and kustomize-controller and wait until both answer /readyz."""
        self.kubeconfig.write_text(json.dumps(self.api.kubeconfig()))
        self.kubeconfig.chmod(0o600)
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), RUNTIME_NAMESPACE=FLUX_NAMESPACE)
        common = ["--log-level=info", "--log-encoding=json", "--watch-all-namespaces=true", "--events-addr="]
        started = []
        (self.workdir / "artifacts").mkdir(exist_ok=True)
        for name, extra in (
            ("source-controller", [
                f"--storage-path={self.workdir / 'artifacts'}",
                f"--storage-addr={self.storage}",
                f"--storage-adv-addr={self.storage}",
            ]),
            # A tenant waiting on infrastructure (dependsOn) is looked at again after 2 s, not 30 s.
            ("kustomize-controller", ["--requeue-dependency=2s"]),
        ):
            health = free_port()
            process = Process(
                f"{name} ({self.api.slot})",
                [
                    str(self.binaries.bin[name]), *common, *extra,
                    f"--metrics-addr=127.0.0.1:{free_port()}", f"--health-addr=127.0.0.1:{health}",
                ],
                self.workdir / f"{name}.log",
                env=env,
            ).start()
            self.processes.append(process)
            started.append((process, health))
        for process, health in started:
            url = f"http://127.0.0.1:{health}/readyz"
            process.wait_until(functools.partial(_http_ok, url), timeout_s, "ready")
        self.publish(available=True)

    def publish(self, *, available: bool) -> None:
        """Show the controllers as the Deployments a cluster would have, available while their processes run.

        There is no kubelet: the controllers run as local processes, and this
        writes what the kubelet and the Deployment controller would report
        for them (the gate checks that Flux's controllers are available).
        """
        rest = self.api.rest()
        rest.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLUX_NAMESPACE}})
        for name in ("source-controller", "kustomize-controller"):
            labels = {"app": name}
            deployment = rest.apply({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": FLUX_NAMESPACE, "labels": labels},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "manager", "image": f"fluxcd/{name}:local-process"}]},
                    },
                },
            })
            count = 1 if available else 0
            deployment["status"] = {
                "observedGeneration": deployment["metadata"].get("generation", 1),
                "replicas": 1,
                "readyReplicas": count,
                "availableReplicas": count,
                "updatedReplicas": 1,
                "conditions": [{
                    "type": "Available",
                    "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                    "message": f"{name} runs as a local process" if available else f"{name} is stopped",
                }],
            }
            path = rest.path("apps/v1", "Deployment", FLUX_NAMESPACE, name) + "/status"
            rest.call("PUT", path, deployment)

    def bootstrap(self, url: str, interval: str) -> None:
        """What ``flux bootstrap`` leaves behind: the namespace and the sync objects; Git holds the rest."""
        rest = self.api.rest()
        rest.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLUX_NAMESPACE}})
        rest.apply(git_repository(url, interval))
        rest.apply(kustomization("flux-system", "./clusters/local", interval, wait=False))

    def stop(self) -> None:
        running = bool(self.processes)
        for process in reversed(self.processes):
            process.stop()
        self.processes = []
        if running and self.api.process.running():
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.publish(available=False)


def _established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def ready_condition(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return dict(c)
    return None


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

    def __init__(self, interval: str = "5m", binaries: Binaries | None = None) -> None:
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
        api = ApiServer(slot, self.binaries.bin["kube-apiserver"], self.etcd, self.certs, work,
                        prefix=f"/registry-{slot}-{self._created}")
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
        apis = [ApiServer(slot, binaries.bin["kube-apiserver"], self.etcd, certs, work) for slot in self.slots]
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

    def start_slot_flux(self, slot: str) -> None:
        flux = self.started[slot].flux
        flux.start()
        flux.bootstrap(self.repo_url, self.interval)

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
