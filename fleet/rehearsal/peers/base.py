"""The peers' binaries (built by tools/peers/build.py), their errors, and the processes that run them."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.procs import spawn

BUILD_COMMAND = "python3 tools/peers/build.py"
"""What builds the peers (from the repository's root): printed whenever they are missing."""

REPO_ROOT = Path(__file__).resolve().parents[3]
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
