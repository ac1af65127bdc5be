"""`python -m fleet.rehearsal.demo_traffic` gives the demo stack the HAProxy its traffic section names.

The runtime socket appears at the stack's relative path under the project,
fleet's HAProxy adapter (configured from the same stack) reads blue at 100 %
through it, requests reach blue, and everything is gone afterwards.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from fleet.config import load_environment
from fleet.rehearsal.demo_traffic import demo_traffic
from fleet.rehearsal.haproxy_process import find_haproxy

pytestmark = pytest.mark.skipif(find_haproxy() is None, reason="needs haproxy (Debian package haproxy)")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", work / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", work / "stacks")
    return work


def test_the_demo_haproxy_is_where_the_stack_says(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fleet.adapters.traffic import traffic_from_settings

    config = load_environment(project, "demo")
    monkeypatch.chdir(project)  # the stack's socket path is relative to the project root
    with demo_traffic(project, "demo") as world:
        assert world.socket_link == project / ".fleet" / "demo" / "haproxy.sock"
        view = traffic_from_settings("demo", config.traffic, file=config.file).observe("demo")
        assert view.weights is not None and (view.weights.blue, view.weights.green) == (100, 0)
        with urllib.request.urlopen(world.haproxy.url, timeout=5) as answer:
            assert answer.headers["X-Slot"] == "blue"
    assert not world.socket_link.exists() and not world.socket_link.is_symlink()


def test_the_command_runs_until_sigterm_and_counts_its_requests(project: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.rehearsal.demo_traffic", "--project", str(project), "--rate", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        assert "HAProxy http://127.0.0.1:" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, out
    assert "0 failed" in out
