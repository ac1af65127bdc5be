"""Moving traffic between slots with HAProxy's runtime API.

When a single HAProxy (or a pair fed the same commands) fronts both slots'
ingresses, the fastest and most exact way to shift traffic is the runtime
API on its stats socket: ``set server <backend>/<server> weight N`` changes
the round-robin share of the very next request, with no reload and no DNS
caching. A rollback through here takes milliseconds.

Both slots' weights are sent in one socket session (commands separated by
``;``), with the rising weight first, so that the backend never passes
through a moment where both servers have weight 0 (HAProxy would answer 503).
HAProxy applies the commands one after the other and has no transaction, so
the adapter checks server names and weight ranges before sending and reads
the weights back afterwards (``show servers state``), raising if they are not
what was asked for. Weights are the percentages themselves (HAProxy accepts
0..256), so ``Weights(blue=90, green=10)`` becomes weights 90 and 10.

The runtime API client in this module is shared with the HAProxy analysis
source, which reads ``show stat`` through the same socket.
"""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Mapping
from typing import Any

from fleet.adapters.traffic.settings import SettingsReader
from fleet.domain.model import SlotName, Weights
from fleet.errors import AccessDenied, ProviderError, TransientError
from fleet.ports import Applied

MAX_WEIGHT = 256


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
        try:
            with socket.socket(self._family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect(self._target)
                sock.sendall(payload)
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except PermissionError as err:
            raise AccessDenied(f"cannot open HAProxy's runtime API at {self.address}: {err}") from err
        except FileNotFoundError as err:
            raise ProviderError(f"HAProxy's runtime API socket {self.address} does not exist") from err
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


def socket_setting(reader: SettingsReader) -> str:
    """The ``socket`` key of an HAProxy block, checked to be a socket path or host:port."""
    address = reader.string("socket")
    try:
        parse_address(address)
    except ValueError as err:
        raise reader.error("socket", str(err)) from None
    return address


class HAProxyTraffic:
    """Traffic between the slots as the weights of two servers of one HAProxy backend."""

    provider = "haproxy"

    def __init__(
        self,
        socket: str,
        *,
        backend: str = "app",
        servers: Mapping[str, str] | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        self.api = RuntimeApi(socket, timeout_s=timeout_s)
        self.backend = backend
        names = dict(servers or {})
        self.servers = {slot: names.get(slot.value, slot.value) for slot in SlotName}

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> HAProxyTraffic:
        reader = SettingsReader(
            settings, file=file, block="fleet:traffic",
            known=("provider", "socket", "backend", "servers", "timeout"),
        )
        address = socket_setting(reader)
        return cls(
            address,
            backend=reader.string("backend", "app"),
            servers=reader.slot_names("servers"),
            timeout_s=reader.duration("timeout", 2.0, low=0.05, high=60.0),
        )

    def _weights_of(self, state: Mapping[str, Mapping[str, str]]) -> dict[SlotName, int]:
        weights = {}
        for slot, server in self.servers.items():
            row = state.get(server)
            if row is None:
                raise ProviderError(
                    f"HAProxy backend {self.backend!r} has no server {server!r} for slot {slot} "
                    f"(it has {', '.join(sorted(state))})"
                )
            weights[slot] = int(row["srv_uweight"])
        return weights

    def get_weights(self, env: str) -> Weights:
        raw = self._weights_of(self.api.servers_state(self.backend))
        total = raw[SlotName.BLUE] + raw[SlotName.GREEN]
        if total == 0:
            raise ProviderError(
                f"both servers of HAProxy backend {self.backend!r} have weight 0: it serves no traffic"
            )
        blue = round(100 * raw[SlotName.BLUE] / total)
        return Weights(blue=blue, green=100 - blue)

    def set_weights(self, env: str, weights: Weights) -> Applied:
        current = self._weights_of(self.api.servers_state(self.backend))
        wanted = {slot: weights.of(slot) for slot in SlotName}
        for slot, value in wanted.items():
            if not 0 <= value <= MAX_WEIGHT:
                raise ValueError(f"weight {value} for {slot} is outside 0..{MAX_WEIGHT}")
        rising_first = sorted(SlotName, key=lambda slot: wanted[slot] - current[slot], reverse=True)
        answer = self.api.execute(*(
            f"set server {self.backend}/{self.servers[slot]} weight {wanted[slot]}" for slot in rising_first
        ))
        after = self._weights_of(self.api.servers_state(self.backend))
        if after != wanted or answer.strip():
            detail = f": {answer.strip()}" if answer.strip() else ""
            raise ProviderError(
                f"HAProxy backend {self.backend!r} has weights "
                f"blue {after[SlotName.BLUE]} / green {after[SlotName.GREEN]} "
                f"after asking for {weights}{detail}"
            )
        return Applied(weights=weights, settle_s=0.0)
