"""Ports for the processes we start: never one an outgoing connection or another allocator can take meanwhile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from fleet.rehearsal import listen_ports
from fleet.rehearsal.listen_ports import candidates, ephemeral_range, free_port


def test_ports_are_outside_the_range_outgoing_connections_take() -> None:
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(listen_ports.LOWEST <= p < 65536 and not low <= p <= high for p in ports)


def test_outgoing_connections_never_land_on_a_port_we_hand_out() -> None:
    """Why the range: the kernel gives every client socket a port from the ephemeral range, and only from it."""
    allowed = set(candidates())
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(512)
        clients = [socket.create_connection(server.getsockname(), timeout=2) for _ in range(400)]
        try:
            local = {c.getsockname()[1] for c in clients}
        finally:
            for c in clients:
                c.close()
    assert len(local) == 400
    assert not local & allowed


def test_allocators_in_separate_processes_never_hand_out_the_same_port(tmp_path: Path) -> None:
    """The test run and the ``fleet`` it starts (or two rehearsals) allocate at the same time."""
    script = "from fleet.rehearsal.listen_ports import free_port\nprint(*(free_port() for _ in range(400)))\n"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env) for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ports = [int(x) for out in outputs for x in out.split()]
    assert len(ports) == 1600
    assert len(set(ports)) == 1600
    # each is reserved (a port found listened on stays reserved too, so the next allocator skips it at once)
    reserved = {int(p.name) for p in (tmp_path / f"fleet-ports-{os.getuid()}").iterdir()}
    assert set(ports) <= reserved


def test_a_port_somebody_listens_on_is_not_bindable_and_a_lapsed_reservation_is_taken_again(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        assert not listen_ports._bindable(listener.getsockname()[1])
    port = candidates()[0]
    now = time.time()
    assert listen_ports._reserve(tmp_path, port, now)
    assert not listen_ports._reserve(tmp_path, port, now + listen_ports.RESERVATION_S - 1)
    assert listen_ports._reserve(tmp_path, port, now + listen_ports.RESERVATION_S + 1)
