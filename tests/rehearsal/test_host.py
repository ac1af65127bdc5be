"""The process standing for everything outside fleet in a rehearsal: requests in, answers out, nothing left."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from fleet.domain.model import SlotName
from fleet.rehearsal.flux_sim import FluxSpec
from fleet.rehearsal.host import Host, HostError
from fleet.rehearsal.host_server import serve

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


def test_a_destroyed_cluster_comes_back_as_a_new_empty_api() -> None:
    host = Host().start()
    try:
        first = host.cluster(SlotName.GREEN)
        host.flux(SlotName.GREEN, FluxSpec("main@sha1:1"), reconcile_s=0.1).install()
        first.destroy()

        second = host.cluster(SlotName.GREEN)

        assert second.url != first.url
        token = second.kubeconfig()["users"][0]["user"]["token"]
        request = urllib.request.Request(
            f"{second.url}/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
            headers={"Authorization": f"Bearer {token}"},
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == 404
    finally:
        host.stop()


def test_an_answer_left_by_an_interrupted_call_is_not_taken_for_the_next_one() -> None:
    host = Host().start()
    try:
        host.cluster(SlotName.BLUE)
        stdin = host._proc.stdin  # type: ignore[union-attr]
        stdin.write(b'{"id": 0, "op": "meteor-strike"}\n')  # asked, then Ctrl-C before the answer was read

        backend = host.backend("green")

        assert backend.address[0] == "127.0.0.1"
    finally:
        host.stop()


def test_a_host_that_does_not_answer_in_time_is_stopped_and_refuses_later_calls() -> None:
    host = Host(timeout_s=30).start()
    try:
        backend = host.backend("green", latency_s=3.0)
        host.start_load(backend.url, rate=20, total=40, time_limit_s=8, threads=4)
        time.sleep(0.5)  # every worker is now waiting 3 s for an answer
        # Only the call under test is held to 0.3 s: starting a backend can take longer on a loaded runner.
        host.timeout_s = 0.3

        with pytest.raises(HostError, match=r"did not answer within 0\.3s"):
            host.stop_load()
        with pytest.raises(HostError, match="not running"):
            host.backend("blue")
    finally:
        host.stop()
