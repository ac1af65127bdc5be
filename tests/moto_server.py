"""moto in server mode on 127.0.0.1: the real Route53 and S3 APIs for boto3, started by the tests.

moto is looser than AWS (it accepts weights over 255, duplicate SetIdentifiers),
so the adapters validate on their own side; the server only plays AWS's wire
protocol. One helper serves every suite that needs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.procs import spawn

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def moto_server_binary() -> str:
    beside = Path(sys.executable).parent / "moto_server"
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if found is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    return found


@contextmanager
def moto_server(env: Mapping[str, str] | None = None, *, start_timeout_s: float = 20.0) -> Iterator[str]:
    """Start ``moto_server`` on a free port; yield its URL; stop it."""
    port = free_port()
    proc = spawn(  # killed with the test run, even on kill -9
        [moto_server_binary(), "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
    )
    deadline = time.monotonic() + start_timeout_s
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        wait_or_kill(proc, 10)
