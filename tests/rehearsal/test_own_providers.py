"""``fleet rehearse staging`` on staging's own providers: Route53 (moto) with caching resolvers, a real Prometheus.

Each rehearsal runs the CLI in a fresh process, as a user would, and checks
from its output that the real Route53 adapter and the real Prometheus source
did the work (and which parts stood in), that the users' requests followed
the weights through the resolvers, and that every process it started is gone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleet.rehearsal.dns_world import find_moto_server
from fleet.rehearsal.prometheus_process import find_prometheus
from fleet.rehearsal.real import missing_parts

REPO = Path(__file__).resolve().parents[2]
MISSING = missing_parts() + (["moto_server (pip install 'moto[server]')"] if find_moto_server() is None else []) + (
    ["prometheus (Debian package prometheus)"] if find_prometheus() is None else []
)

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"rehearsing staging needs {', '.join(MISSING)}")


def rehearse(tmp_path: Path, *args: str, timeout: float = 240, project: Path = REPO) -> tuple[int, Any, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "AWS_"))}
    env["FLEET_PROJECT"] = str(project)
    proc = subprocess.run(
        [sys.executable, "-m", "fleet", "rehearse", "staging", "--state", str(tmp_path / "s"), "--output", "json",
         *args],
        capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, check=False,
    )
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None, proc.stderr


def pids(ports: list[str]) -> list[int]:
    return [int(p) for line in ports for p in re.findall(r"\(pid (\d+)\)", line)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_staging_rehearses_route53_on_moto_and_a_real_prometheus_and_completes(tmp_path: Path) -> None:
    code, out, err = rehearse(tmp_path)
    assert code == 0, err[-3000:]
    assert out["result"] == "DONE"
    ports = out["providers"]["ports"]
    said = "\n".join(ports)
    assert "Traffic       real Route53 adapter against stand-in Route53: moto_server http://127.0.0.1:" in said
    assert "simulated resolvers caching each answer for the record's TTL" in said
    assert "Analysis      real Prometheus source, staging's own queries, against a real prometheus" in said
    assert "Provisioner   stand-in" in said and "not rehearsed for real" not in said
    # what fleet validate could only guess offline, the real Prometheus answers
    assert "Prometheus on staging's queries: fleet:analysis.queries.requests: aggregates its series" in said
    # the first lines of the output are the ports, before anything moves
    first = err.splitlines()[1 : 1 + len(ports)]
    assert first == ports[: len(first)]
    # the users found the slots through DNS: all on green at the end, none failed
    traffic = out["traffic"]
    assert traffic["failed"] == 0 and traffic["requests"] > 1000
    assert traffic["after_end"]["split"] == {"green": 100.0}
    # every step was judged by the rehearsal's Prometheus
    history = (tmp_path / "s" / "staging" / "history.jsonl").read_text()
    assert len(re.findall(r'"source": ?"prometheus http://127\.0\.0\.1:\d+"', history)) >= 4
    # the DNS settle wait was real: stale answers were served after a change, for at most the TTL
    settles = out["providers"]["dns_settle"]
    assert len(settles) == 4 and sum(s["stale_requests"] for s in settles) > 0
    assert 0.2 < max(s["stale_for_s"] for s in settles) <= out["providers"]["waits"]["ttl_s"] + 0.3
    assert "DNS settle: after each of 4 weight changes" in err
    for pid in pids(ports):
        assert not alive(pid), f"process {pid} outlived the rehearsal"


def test_staging_with_a_failing_green_is_rolled_back_on_prometheus_evidence(tmp_path: Path) -> None:
    code, out, err = rehearse(tmp_path, "--fault", "green-errors=0.05", "--report", str(tmp_path / "r.html"))
    assert code == 1, err[-3000:]
    assert out["result"] == "ROLLED_BACK"
    assert "analysis failed 2 times at step 1/4 (10%)" in out["message"]
    # the verdicts came from the rehearsal's Prometheus, not from HAProxy or the load's own records
    history = (tmp_path / "s" / "staging" / "history.jsonl").read_text()
    assert re.search(r'"source": ?"prometheus http://127\.0\.0\.1:\d+"', history)
    assert "haproxy" not in history.lower()
    assert out["status"]["state"]["weights"] == {"blue": 100, "green": 0}
    assert out["traffic"]["failed_by_slot"]["blue"] == 0 and out["traffic"]["failed_by_slot"]["green"] > 0
    assert "moto_server" in "\n".join(out["providers"]["ports"])
    title = (tmp_path / "r.html").read_text().split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert "rehearsal (real parts: Route53 on moto, a real Prometheus) of staging" in title, title
    for pid in pids(out["providers"]["ports"]):
        assert not alive(pid)


def test_faults_that_need_haproxy_or_a_resume_are_refused_before_anything_starts(tmp_path: Path) -> None:
    code, _, err = rehearse(tmp_path, "--fault", "crash-after=SHIFT", timeout=60)
    assert code == 2
    assert "does not offer crash-after=SHIFT" in err


def test_ctrl_c_stops_moto_prometheus_and_the_host_and_says_it_cannot_be_resumed(tmp_path: Path) -> None:
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "AWS_"))}
    env["FLEET_PROJECT"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet", "rehearse", "staging", "--state", str(tmp_path / "s")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "SHIFT step 1/4" in line:
                break
        started = pids(lines)
        assert len(started) == 2, lines
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, rest
    assert "cannot be resumed: start anew" in rest
    for pid in started:
        assert not alive(pid), f"process {pid} outlived the rehearsal"


@pytest.mark.parametrize(("old", "new", "said"), [
    ("sum by (le) (rate(", "sum by (le) (rate((", "Prometheus rejects fleet:analysis.queries.p99"),
    ("haproxy_backend_http_responses_total{proxy=\"ingress-{slot}\"})",
     "haproxy_backend_responses_total{proxy=\"ingress-{slot}\"})",
     "the environment's Prometheus queries find nothing the stand-in ingresses export: requests for blue"),
])
def test_a_query_prometheus_rejects_or_that_finds_nothing_stops_it_before_traffic_moves(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    stack = (REPO / "stacks" / "Pulumi.staging.yaml").read_text()
    assert old in stack
    (project / "stacks" / "Pulumi.staging.yaml").write_text(stack.replace(old, new, 1))

    code, _, err = rehearse(tmp_path, project=project, timeout=120)

    assert code == 2, err[-2000:]
    assert said in err
    assert "SHIFT" not in err
