"""A client for HAProxy's runtime API: one socket session a call, answers parsed.

The runtime API on HAProxy's stats socket takes ``;``-separated commands in
one session and answers in plain text; this client sends them, reads the whole
answer and parses the two tables fleet reads (``show stat``, CSV; ``show
servers state``, space-separated). It serves both the traffic adapter
(``fleet.adapters.traffic.haproxy``) and the HAProxy analysis source, which
reads ``show stat`` through the same socket.

Every call's socket timeout is cut to the deadline of the step it belongs to
(``fleet.retry``): an HAProxy that accepts and never answers cannot hold a
rollback longer than its budget. A socket path that does not exist (HAProxy
restarting) is a transient error, retried like a refused connection; a socket
without ``level admin`` is AccessDenied.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from typing import Any

from fleet import retry
from fleet.errors import AccessDenied, ProviderError, TransientError


class RuntimeApi:
    """A client for HAProxy's runtime API on a unix socket path or ``host:port``."""

    def __init__(self, address: str, *, timeout_s: float = 2.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._family, self._target = parse_address(address)

    def execute(self, *commands: str) -> str:
        """Run ``commands`` in one session and return HAProxy's whole answer."""
        if not commands:
            return ""
        if any(";" in c or "\n" in c for c in commands):
            raise ValueError("runtime API commands must not contain ';' or newlines")
        payload = ("; ".join(commands) + "\n").encode()
        budget = retry.timeout(self.timeout_s)
        ends = time.monotonic() + budget
        try:
            with socket.socket(self._family, socket.SOCK_STREAM) as sock:
                sock.settimeout(budget)
                sock.connect(self._target)
                sock.sendall(payload)
                chunks = []
                while True:
                    left = ends - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no complete answer within {budget:.2f}s")
                    sock.settimeout(left)
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except PermissionError as err:
            raise AccessDenied(f"cannot open HAProxy's runtime API at {self.address}: {err}") from err
        except FileNotFoundError as err:
            raise TransientError(
                f"HAProxy's runtime API socket {self.address} does not exist (is HAProxy restarting?)",
                retry_after=1.0,
            ) from err
        except (ConnectionError, TimeoutError) as err:
            raise TransientError(
                f"HAProxy's runtime API at {self.address} did not answer: {err}", retry_after=1.0
            ) from err
        except OSError as err:
            raise ProviderError(f"HAProxy's runtime API at {self.address} failed: {err}") from err
        answer = b"".join(chunks).decode(errors="replace")
        if "Permission denied" in answer:
            raise AccessDenied(
                f"HAProxy's runtime API at {self.address} refused {commands[0]!r}: "
                "the stats socket needs 'level admin'"
            )
        return answer

    def show_stat(self) -> list[dict[str, str]]:
        """``show stat`` as one dict per proxy/server line, keyed by the CSV header's field names."""
        text = self.execute("show stat")
        if not text.startswith("# "):
            raise ProviderError(f"unexpected answer to 'show stat': {text[:200]!r}")
        reader = csv.DictReader(io.StringIO(text[2:]))
        return [dict(row) for row in reader]

    def servers_state(self, backend: str) -> dict[str, dict[str, str]]:
        """``show servers state <backend>`` as a dict per server name."""
        text = self.execute(f"show servers state {backend}")
        lines = [line for line in text.splitlines() if line.strip()]
        header = next((line for line in lines if line.startswith("# ")), None)
        if header is None:
            raise ProviderError(f"unexpected answer to 'show servers state {backend}': {text[:200]!r}")
        names = header[2:].split()
        result: dict[str, dict[str, str]] = {}
        for line in lines:
            if line.startswith("#") or len(line.split()) < len(names) - 2:
                continue
            row = dict(zip(names, line.split(), strict=False))
            if row.get("be_name") == backend:
                result[row["srv_name"]] = row
        if not result:
            raise ProviderError(f"HAProxy has no backend {backend!r} (or it has no servers): {text[:200]!r}")
        return result


def parse_address(address: str) -> tuple[socket.AddressFamily, Any]:
    """``/run/haproxy/admin.sock``, ``unix:/path``, ``127.0.0.1:9999`` or ``ipv4@127.0.0.1:9999``."""
    text = address.strip()
    if text.startswith("unix:"):
        return socket.AF_UNIX, text[len("unix:"):]
    if text.startswith("/") or text.startswith("."):
        return socket.AF_UNIX, text
    text = text.removeprefix("ipv4@")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is neither a socket path nor host:port")
    return socket.AF_INET, (host, int(port))
