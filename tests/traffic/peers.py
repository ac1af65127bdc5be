"""A real Prometheus that can be stopped and restarted (with or without its storage), and an HAProxy that reloads.

Both are the Debian binaries, on free 127.0.0.1 ports, stopped by their PIDs.
The Prometheus keeps its port across restarts, as a restarted server would,
so the source under test keeps talking to the same URL.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.haproxy_process import HAProxyProcess
from fleet.rehearsal.listen_ports import free_port
from tests.traffic.support import PROMETHEUS, wait_http


class PrometheusProcess:
    """``prometheus`` scraping ``targets`` every ``interval``; ``restart(keep_storage=...)`` keeps the port."""

    def __init__(
        self, targets: list[str], *, interval: str = "1s", timeout: str = "500ms", wait_for_targets: bool = True
    ) -> None:
        self.wait_for_targets = wait_for_targets
        assert PROMETHEUS is not None
        self.binary = PROMETHEUS
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="fleet-prometheus-"))
        self.config = self.workdir / "prometheus.yml"
        listed = ", ".join(f"'{t}'" for t in targets)
        self.config.write_text(
            f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {timeout}\n"
            "scrape_configs:\n  - job_name: haproxy\n    static_configs:\n"
            f"      - targets: [{listed}]\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def storage(self) -> Path:
        return self.workdir / "data"

    def start(self, *, wait_for_targets: bool = True) -> PrometheusProcess:
        log = (self.workdir / "prometheus.log").open("ab")
        try:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.storage}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        wait_http(f"{self.url}/-/ready", timeout_s=30)
        if wait_for_targets:
            self.wait_until_up()
        return self

    def wait_until_up(self, timeout_s: float = 15.0) -> None:
        """Until a scrape of every target has succeeded."""
        query = urllib.parse.urlencode({"query": 'up{job="haproxy"} == 1'})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=2) as response:
                if b'"value"' in response.read():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"Prometheus at {self.url} scraped nothing within {timeout_s}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            wait_or_kill(proc, 10)

    def restart(self, *, keep_storage: bool, down_s: float = 0.0) -> None:
        self.stop()
        if not keep_storage:
            shutil.rmtree(self.storage, ignore_errors=True)
        time.sleep(down_s)
        self.start(wait_for_targets=False)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PrometheusProcess:
        try:
            return self.start(wait_for_targets=self.wait_for_targets)
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReloadingHAProxy(HAProxyProcess):
    """fleet's rehearsal HAProxy (which reloads with ``-sf``) with an exporter the test can stop.

    A reload starts a new process with fresh counters and the configuration
    file's weights (runtime API changes are lost), so tests give the file the
    weights they want.
    """

    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def config_text(self, socket_path: str) -> str:
        # one connection per scrape, so that a disabled exporter fails the very next scrape
        text = super().config_text(socket_path)
        return text.replace("frontend metrics\n", "frontend metrics\n    option httpclose\n")

    def disable_metrics(self) -> None:
        """The exporter stops answering (its frontend stops listening): Prometheus' scrapes fail."""
        self.runtime("disable frontend metrics")

    def enable_metrics(self) -> None:
        self.runtime("enable frontend metrics")

    def runtime(self, command: str) -> str:
        return self.ask(command.encode() + b"\n").decode(errors="replace")
