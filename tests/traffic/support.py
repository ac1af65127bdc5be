"""Helpers shared by the traffic tests: skip markers and the fault proxy's rules (the engine: ``engine_run``)."""

from __future__ import annotations

import re
import shutil
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleet.rehearsal.haproxy_process import find_haproxy

without_haproxy = pytest.mark.skipif(find_haproxy() is None, reason="haproxy binary not found (Debian package haproxy)")
needs_haproxy = [pytest.mark.haproxy, without_haproxy]

PROMETHEUS = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
without_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus binary not found (Debian package prometheus)"
)
needs_prometheus = [pytest.mark.prometheus, without_prometheus]


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``method`` and ``path`` with an error, or rewrite them."""

    method: str
    path: str
    times: int
    status: int = 400
    code: str = "Throttling"
    message: str = "Rate exceeded"
    pending: bool = False
    """Instead of an error, forward the call and report the change as PENDING."""


@dataclass
class Seen:
    method: str
    path: str
    body: str
    answered: int


@dataclass
class FaultProxy:
    url: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and re.search(path, s.path)]


CHANGE_RRSETS = r"/hostedzone/[^/]+/rrset/?$"
GET_CHANGE = r"/change/"


def wait_http(url: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s}s")
