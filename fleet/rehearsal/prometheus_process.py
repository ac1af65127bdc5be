"""A real Prometheus (the Debian ``prometheus`` binary) for a rehearsal, scraping the stand-in ingresses.

An environment judged by Prometheus is rehearsed against a real server, so
that its own PromQL runs: a query that matches nothing, a ``rate`` over too
short a range or a ``histogram_quantile`` without ``le`` fails the
rehearsal the way it would fail the cutover. The server gets a free port on
127.0.0.1, its own configuration and storage in a temporary directory that
names its owner (:func:`fleet.rehearsal.procs.owned_temp_dir`; a killed
rehearsal's directory is reclaimed by the next), a short scrape interval so
that a compressed analysis window sees several scrapes, and is stopped by
its PID (and killed by the kernel with the rehearsal, :func:`spawn`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.procs import owned_temp_dir, spawn

JOB = "ingress"


def find_prometheus() -> str | None:
    return shutil.which("prometheus")


class PrometheusError(RuntimeError):
    """The rehearsal's Prometheus did not start or scrape."""


class PrometheusProcess:
    """``prometheus`` scraping ``targets`` (``host:port``) every ``interval_s``; ``start()``, ``stop()``."""

    def __init__(self, targets: Sequence[str], *, interval_s: float = 0.5, timeout_s: float = 0.4) -> None:
        found = find_prometheus()
        if found is None:
            raise PrometheusError("prometheus is not installed (Debian package prometheus)")
        self.binary = found
        self.targets = list(targets)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = owned_temp_dir("fleet-prometheus-")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def config_text(self) -> str:
        listed = ", ".join(f"'{t}'" for t in self.targets)
        return (
            f"global:\n  scrape_interval: {int(self.interval_s * 1000)}ms\n"
            f"  scrape_timeout: {int(self.timeout_s * 1000)}ms\n"
            f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{listed}]\n"
        )

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
        first = (out.stdout or out.stderr).splitlines()
        return first[0].split(" (")[0] if first else "prometheus"

    def start(self, *, timeout_s: float = 30.0) -> PrometheusProcess:
        config = self.workdir / "prometheus.yml"
        config.write_text(self.config_text())
        self.port = free_port()
        with (self.workdir / "prometheus.log").open("ab") as log:
            self.proc = spawn(
                [
                    self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
                ],
                owner_dir=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        self._wait(self._ready, timeout_s, "answer /-/ready")
        self._wait(lambda: self.scraped_up() == len(self.targets), timeout_s, "scrape every stand-in ingress")
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _wait(self, done: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if self.proc is not None and self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited ({self.proc.returncode}); see {self.workdir}/prometheus.log")
            if time.monotonic() > deadline:
                raise PrometheusError(f"prometheus at {self.url} did not {what} within {timeout_s:g}s")
            time.sleep(0.1)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector's samples; empty on any error)."""
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(address, timeout=2) as response:
                body = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return []
        result = body.get("data", {}).get("result", []) if isinstance(body, dict) else []
        return result if isinstance(result, list) else []

    def scraped_up(self) -> int:
        """How many targets the last scrape reached."""
        return len([s for s in self.query(f'up{{job="{JOB}"}} == 1') if isinstance(s, dict)])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            wait_or_kill(proc, 10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
