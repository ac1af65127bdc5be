"""The process standing for everything outside fleet in a rehearsal: requests in, answers out, nothing left."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from fleet.domain.model import SlotName
from fleet.rehearsal.host import Host, HostError, serve

pytest.importorskip("kmock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def _wait_gone(pid: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_request_the_host_cannot_serve_is_answered_with_an_error_and_the_next_one_still_served() -> None:
    out = io.StringIO()
    serve(io.StringIO('{"op": "meteor-strike"}\n{"op": "install_flux", "slot": "green"}\n'), out)

    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert "unknown request 'meteor-strike'" in answers[0]["error"]
    assert "no cluster 'green' is running" in answers[1]["error"]


def test_a_cluster_in_the_host_serves_its_api_until_the_host_stops() -> None:
    host = Host().start()
    try:
        cluster = host.cluster(SlotName.GREEN)
        token = cluster.kubeconfig()["users"][0]["user"]["token"]
        request = urllib.request.Request(
            f"{cluster.url}/apis/apps/v1/namespaces/flux-system/deployments",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        with pytest.raises(HostError, match="unknown Flux action"):
            host.call("flux", slot="green", action="explode", spec={"revision": "r"}, reconcile_s=0)
    finally:
        host.stop()

    with pytest.raises(HostError, match="not running"):
        host.cluster(SlotName.GREEN)


def test_the_host_exits_when_the_rehearsal_is_killed_without_cleaning_up() -> None:
    parent = subprocess.run(
        [sys.executable, "-c",
         "import os, signal\n"
         "from fleet.domain.model import SlotName\n"
         "from fleet.rehearsal.host import Host\n"
         "host = Host().start(); host.cluster(SlotName.BLUE)\n"
         "print(host.pid, flush=True)\n"
         "os.kill(os.getpid(), signal.SIGKILL)\n"],
        capture_output=True, text=True, timeout=60, check=False,
    )

    assert parent.returncode == -9, parent.stderr
    assert _wait_gone(int(parent.stdout.strip()))
