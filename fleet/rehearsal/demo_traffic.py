"""The HAProxy a `local` environment's cutover moves traffic on, with stand-in ingresses and load.

On a real environment HAProxy already runs in front of both slots; on the
``demo`` environment (two ``local`` slots on this machine) nothing does. This
starts one as the stack names it (``fleet:traffic``: ``socket``, relative to
the project root, ``backend``, ``servers``): a real HAProxy whose runtime
socket is linked at that path, two small HTTP servers standing for the slots'
ingresses (a ``local`` slot has no ingress controller), and, with
``--rate``, steady requests through it. The active slot (from fleet's store,
else blue) starts with all the weight. Run it in a second terminal::

    python -m fleet.rehearsal.demo_traffic            # Ctrl-C stops all of it
    fleet cutover demo --to 1.37 --yes

Everything listens on 127.0.0.1 and stops with this process.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.haproxy_process import HAProxyProcess, find_haproxy
from fleet.rehearsal.load import LoadGenerator

SLOTS = ("blue", "green")


@dataclass
class DemoTraffic:
    haproxy: HAProxyProcess
    backends: dict[str, SlotBackend]
    """By slot name."""
    load: LoadGenerator | None
    socket_link: Path


def _layout(project: Path, env: str) -> tuple[Path, str, dict[str, str], str]:
    """(socket link, backend, slot -> server name, active slot) from the environment's stack and fleet's store."""
    from fleet.config import load_environment
    from fleet.state import DEFAULT_LOCATION, open_store

    config = load_environment(project, env)
    where = config.state or DEFAULT_LOCATION
    location = where if where.startswith("s3://") or Path(where).is_absolute() else str(project / where)
    traffic = config.traffic
    if traffic.get("provider") != "haproxy" or not isinstance(traffic.get("socket"), str):
        raise SystemExit(f"{config.file}: fleet:traffic is not a HAProxy on a socket path")
    socket = Path(traffic["socket"])
    servers = traffic.get("servers") or {}
    names = {slot: str(servers.get(slot, slot)) for slot in SLOTS}
    active = "blue"
    with contextlib.suppress(Exception):  # no store yet, or not readable: blue, as a new environment is seeded
        state = open_store(location, rehearsal=False).load(env)
        if state is not None and state.weights.green > state.weights.blue:
            active = "green"
    return (socket if socket.is_absolute() else project / socket), str(traffic.get("backend", "app")), names, active


@contextlib.contextmanager
def demo_traffic(project: Path, env: str = "demo", *, rate: float = 0.0,
                 time_limit_s: float = 3600.0) -> Iterator[DemoTraffic]:
    """HAProxy, the two stand-in ingresses and (``rate`` > 0) load, for as long as the block runs."""
    link, backend, names, active = _layout(project, env)
    backends: dict[str, SlotBackend] = {}
    try:
        for slot in SLOTS:
            backends[slot] = SlotBackend(slot).start()
        haproxy = HAProxyProcess({names[s]: backends[s].address for s in SLOTS}, backend=backend,
                                 weights={names[active]: 100})
        with haproxy:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(haproxy.socket_path)
            load = None
            if rate > 0:
                load = LoadGenerator(haproxy.url, rate=rate, total=int(rate * time_limit_s),
                                     time_limit_s=time_limit_s, threads=2).start()
            try:
                yield DemoTraffic(haproxy, backends, load, link)
            finally:
                if load is not None:
                    load.stop()
                if link.is_symlink():
                    link.unlink()
    finally:
        for server in backends.values():
            server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fleet.rehearsal.demo_traffic", description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", type=Path, default=None, help="the directory holding Pulumi.yaml (default: found)")
    ap.add_argument("--env", default="demo")
    ap.add_argument("--rate", type=float, default=20.0, help="requests per second through HAProxy (0: none)")
    args = ap.parse_args(argv)
    if find_haproxy() is None:
        print("needs haproxy (Debian package haproxy)", file=sys.stderr)
        return 2
    from fleet.config import find_project

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with demo_traffic(args.project or find_project(), args.env, rate=args.rate) as world:
        print(f"HAProxy {world.haproxy.url} (runtime API at {world.socket_link}); Ctrl-C stops it", flush=True)
        stop.wait()
        if world.load is not None:
            records = world.load.stop()
            failed = sum(1 for r in records if r.failed)
            print(f"{len(records)} requests sent, {failed} failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
