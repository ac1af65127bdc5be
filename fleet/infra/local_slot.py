"""One ``local`` cluster slot: a real API server on this machine, run by a small host process.

The ``local`` driver gives a newcomer's machine the product's real path
without Docker or a cloud: each slot is its own etcd and kube-apiserver on
127.0.0.1 (the real-peers binaries that ``tools/peers/build.py`` builds),
and Flux's source- and kustomize-controller run as local processes once the
slot's Flux bootstrap has put their CRDs into the API server, as a kubelet
would start Flux's Deployments after ``flux bootstrap`` applied them. A Git
server on the slot serves the environment's local GitOps repository over
HTTP (Flux speaks only http(s) and ssh).

The slot must outlive the ``pulumi up`` that created it, so it is a process
of its own (``python -m fleet.infra.local_slot serve``), in its own session,
whose children die with it (PR_SET_PDEATHSIG). It writes ``ready.json``
(kubeconfig, API server URL, Git URL, its PID) into the slot's directory
when the API server is ready, and stops everything and removes the
directory on SIGTERM. :func:`start_host` and :func:`stop_host` are what the
Pulumi dynamic provider (``fleet.infra.local_driver``) calls; a host that is
already running for the directory is adopted, never started twice, so a
``pulumi up`` killed mid-create and run again leaves one slot, not two.

This module imports nothing from Pulumi.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

READY = "ready.json"
HOST_MODULE = "fleet.infra.local_slot"
CRD_POLL_S = 0.5


class SlotHostFailed(RuntimeError):
    """The slot's host exited or did not become ready; the message ends with its log's tail."""


# --- the host process ----------------------------------------------------------------------------


def serve(workdir: Path, name: str, git_root: Path | None) -> int:
    """Run one slot until SIGTERM: etcd, the API server, a Git server, and Flux once its CRDs exist."""
    from fleet.rehearsal.peers import (  # the real-peers fixture: binaries, certificates, processes
        FLUX_NAMESPACE,
        ApiServer,
        Binaries,
        Certificates,
        Etcd,
        Flux,
        GitServer,
        _established,
    )

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    binaries = Binaries.find()
    work = workdir / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        certs = Certificates.generate(work / "pki")
        etcd = Etcd(binaries.bin["etcd"], work).start()
        stack.callback(etcd.stop)
        api = ApiServer(name, binaries.bin["kube-apiserver"], etcd, certs, work).start()
        stack.callback(api.stop)
        git_url = ""
        if git_root is not None:
            server = GitServer(git_root).start()
            stack.callback(server.stop)
            git_url = server.url
        ready = {
            "pid": os.getpid(),
            "name": name,
            "api": api.url,
            "git": git_url,
            "kubeconfig": api.kubeconfig(),
            "namespace": FLUX_NAMESPACE,
        }
        tmp = workdir / (READY + ".tmp")
        tmp.write_text(json.dumps(ready))
        tmp.chmod(0o600)
        tmp.replace(workdir / READY)
        flux = Flux(api, binaries, work)
        stack.callback(flux.stop)
        rest = api.rest()
        crd_names = _crd_names(binaries.crds)
        while not stop.wait(CRD_POLL_S):
            if not api.process.running():
                print(f"{name}: kube-apiserver exited:\n{api.process.tail()}", file=sys.stderr, flush=True)
                return 1
            if flux.processes and not all(p.running() for p in flux.processes):
                print(f"{name}: a Flux controller exited; restarting Flux", file=sys.stderr, flush=True)
                flux.stop()
            if flux.processes:
                continue
            try:
                installed = all(
                    _established(rest.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, n))
                    for n in crd_names
                )
            except Exception:  # "not yet": a 404 before the bootstrap applied them
                installed = False
            if installed:
                try:
                    flux.start()
                except Exception as err:  # a controller that did not come up: try again on the next round
                    print(f"{name}: Flux did not start: {err}", file=sys.stderr, flush=True)
                    flux.stop()
                    continue
                print(f"{name}: Flux CRDs are installed, controllers started", file=sys.stderr, flush=True)
    return 0


def _crd_names(paths: tuple[Path, ...]) -> list[str]:
    import yaml

    names = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                names.append(doc["metadata"]["name"])
    return names


# --- what the dynamic provider calls -------------------------------------------------------------


def _host_pid(workdir: Path) -> int | None:
    """The PID of the host serving ``workdir``, if one runs (checked by its command line)."""
    try:
        pid = int(json.loads((workdir / READY).read_text())["pid"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, KeyError):
        return None
    words = [w.decode(errors="replace") for w in cmdline]
    if HOST_MODULE in words and str(workdir) in words:
        return pid
    return None


def read_ready(workdir: Path) -> dict[str, Any] | None:
    """The slot's ``ready.json`` if its host is running, else None."""
    if _host_pid(workdir) is None:
        return None
    value: dict[str, Any] = json.loads((workdir / READY).read_text())
    return value


def start_host(workdir: Path, name: str, git_root: Path | None, *, timeout_s: float = 180.0,
               python: str | None = None) -> dict[str, Any]:
    """Start the slot's host (or adopt the one already running) and return its ``ready.json``."""
    workdir = workdir.resolve()
    running = read_ready(workdir)
    if running is not None:
        return running
    starting = _starting_hosts(workdir)
    if starting:  # started by a run killed before its host was ready (kill -9 during pulumi up): wait for it
        return _wait_ready(workdir, name, starting[0], log=workdir / "host.log", timeout_s=timeout_s)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / READY).unlink(missing_ok=True)
    argv = [python or sys.executable, "-m", HOST_MODULE, "serve", "--workdir", str(workdir), "--name", name]
    if git_root is not None:
        argv += ["--git-root", str(git_root.resolve())]
    log = workdir / "host.log"
    from fleet.adapters.pulumi_procs import without_mark

    with log.open("ab") as out:  # unmarked: the slot outlives the Pulumi run, whose orphans are reclaimed
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=str(workdir), env=without_mark(os.environ))
    try:
        return _wait_ready(workdir, name, proc.pid, log=log, timeout_s=timeout_s, proc=proc)
    except SlotHostFailed:
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise


def _wait_ready(workdir: Path, name: str, pid: int, *, log: Path, timeout_s: float,
                proc: subprocess.Popen[bytes] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        gone = proc.poll() is not None if proc is not None else not process_alive(pid)
        if gone:
            code = proc.returncode if proc is not None else "?"
            raise SlotHostFailed(f"the host of slot {name} exited with {code}:\n{_tail(log)}")
        ready = read_ready(workdir)
        if ready is not None:
            return ready
        time.sleep(0.2)
    raise SlotHostFailed(f"the host of slot {name} was not ready within {timeout_s:g}s:\n{_tail(log)}")


def _starting_hosts(workdir: Path) -> list[int]:
    """PIDs of hosts running for ``workdir`` (by command line), ready or not."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            words = [w.decode(errors="replace") for w in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if HOST_MODULE in words and str(workdir) in words and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def stop_host(workdir: Path, *, timeout_s: float = 60.0) -> None:
    """Stop the slot's host by its PID (SIGTERM, then SIGKILL) and remove the slot's directory."""
    workdir = workdir.resolve()
    for pid in {*_starting_hosts(workdir), *filter(None, [_host_pid(workdir)])}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if process_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while process_alive(pid):
                time.sleep(0.1)
    shutil.rmtree(workdir, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fleet.infra.local_slot", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run one slot until SIGTERM")
    s.add_argument("--workdir", type=Path, required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--git-root", type=Path)
    args = ap.parse_args(argv)
    return serve(args.workdir, args.name, args.git_root)


if __name__ == "__main__":
    sys.exit(main())
