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

HAProxy's own view comes first: weight is never moved onto a server that is
in maintenance, draining or DOWN by its health checks (the adapter says
which), because HAProxy would answer 503 for that share while fleet recorded
success. A slot's server is pointed at the slot's ingress with ``set server
<backend>/<server> addr <ip> port <port>`` when the slot is provisioned
(:meth:`HAProxyTraffic.point`), and :meth:`HAProxyTraffic.observe` reads
weights, states, addresses (``show servers state``) and current sessions
(``show stat``) so that the engine can tell a reload or a hand edit from its
own record. Runtime changes do not survive a reload unless HAProxy keeps a
server-state file (docs/traffic.md gives the lines to add).

The runtime API client (socket sessions, deadlines, parsing HAProxy's tables)
lives in ``fleet.adapters.traffic.haproxy_api``, shared with the HAProxy
analysis source; ``RuntimeApi`` and ``parse_address`` are re-exported here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from fleet.adapters.traffic.haproxy_api import RuntimeApi, parse_address
from fleet.domain.model import SlotName, Weights
from fleet.domain.traffic import ServerState, SlotTraffic, TrafficView, cannot_take, same_address
from fleet.errors import ProviderError
from fleet.ports import Applied

__all__ = ["MAX_WEIGHT", "NAME", "HAProxyTraffic", "RuntimeApi", "parse_address", "parse_ingress"]

MAX_WEIGHT = 256

NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
"""The characters HAProxy allows in proxy and server names (``fleet.adapters.traffic.blocks`` checks settings)."""

_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
"""srv_admin_state bits: forced, inherited, configured, resolution and hostname maintenance."""
_DRAIN = 0x08 | 0x10
"""srv_admin_state bits: forced and inherited drain."""


def parse_ingress(ingress: str) -> tuple[str, int | None]:
    """``10.0.0.5``, ``10.0.0.5:8080``, ``http://10.0.0.5:8080/`` or ``[fd00::5]:80`` as (ip, port)."""
    text = ingress.strip()
    text = text.split("://", 1)[1] if "://" in text else text
    text = text.split("/", 1)[0]
    port: str | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        raise ProviderError(
            f"HAProxy's runtime API sets a server's address to an IP address, and the slot's ingress is "
            f"{ingress!r}; give the slot an ingress IP (or point the server at it with resolvers by hand)"
        ) from None
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ProviderError(f"the slot's ingress {ingress!r} has a bad port")
    return ip, None if port is None else int(port)


def _server_state(row: Mapping[str, str]) -> ServerState:
    try:
        admin = int(row.get("srv_admin_state", "0"))
        operational = int(row.get("srv_op_state", "2"))
    except ValueError:
        return ServerState.UNKNOWN
    if admin & _MAINT:
        return ServerState.MAINT
    if admin & _DRAIN:
        return ServerState.DRAIN
    if operational in (0, 3):  # SRV_ST_STOPPED, SRV_ST_STOPPING
        return ServerState.DOWN
    return ServerState.UP


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
        for name in (backend, *self.servers.values()):
            if not NAME.match(name):
                raise ValueError(f"{name!r} is not an HAProxy name (letters, digits, '-', '_', '.', ':')")

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> HAProxyTraffic:
        from fleet.adapters.traffic.blocks import HAProxyTrafficBlock
        from fleet.settings.blocks import read_block

        block = read_block(HAProxyTrafficBlock, settings, file=file, block="traffic")
        return cls(block.socket, backend=block.backend, servers=block.servers, timeout_s=block.timeout)

    def _rows(self, state: Mapping[str, Mapping[str, str]]) -> dict[SlotName, Mapping[str, str]]:
        rows = {}
        for slot, server in self.servers.items():
            row = state.get(server)
            if row is None:
                raise ProviderError(
                    f"HAProxy backend {self.backend!r} has no server {server!r} for slot {slot} "
                    f"(it has {', '.join(sorted(state))})"
                )
            rows[slot] = row
        return rows

    def _weights_of(self, state: Mapping[str, Mapping[str, str]]) -> dict[SlotName, int]:
        return {slot: int(row["srv_uweight"]) for slot, row in self._rows(state).items()}

    def _view(self, state: Mapping[str, Mapping[str, str]], sessions: Mapping[str, int] | None = None) -> TrafficView:
        slots = {}
        for slot, row in self._rows(state).items():
            addr, port = row.get("srv_addr"), row.get("srv_port")
            slots[slot] = SlotTraffic(
                weight=int(row["srv_uweight"]),
                state=_server_state(row),
                sessions=None if sessions is None else sessions.get(self.servers[slot]),
                address=None if not addr else (f"{addr}:{port}" if port and port != "0" else addr),
            )
        return TrafficView(self.provider, slots)

    def _sessions(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.api.show_stat():
            if row.get("pxname") == self.backend and row.get("svname") in self.servers.values():
                try:
                    found[row["svname"]] = int(row.get("scur") or 0)
                except ValueError:
                    continue
        return found

    def observe(self, env: str) -> TrafficView:
        return self._view(self.api.servers_state(self.backend), self._sessions())

    def get_weights(self, env: str) -> Weights:
        weights = self._view(self.api.servers_state(self.backend)).weights
        if weights is None:
            raise ProviderError(
                f"both servers of HAProxy backend {self.backend!r} have weight 0: it serves no traffic"
            )
        return weights

    def address_of(self, ingress: str) -> str | None:
        ip, port = parse_ingress(ingress)
        return ip if port is None else f"{ip}:{port}"

    def point(self, env: str, slot: SlotName, ingress: str) -> None:
        ip, port = parse_ingress(ingress)
        server = f"{self.backend}/{self.servers[slot]}"
        command = f"set server {server} addr {ip}" + ("" if port is None else f" port {port}")
        answer = self.api.execute(command)
        view = self._view(self.api.servers_state(self.backend))
        wanted = self.address_of(ingress)
        seen = view.slots[slot].address
        if seen is None or wanted is None or not same_address(seen, wanted):
            raise ProviderError(
                f"HAProxy server {server} points at {seen} after asking for {wanted}: {answer.strip()}"
            )

    def set_weights(self, env: str, weights: Weights) -> Applied:
        state = self.api.servers_state(self.backend)
        current = self._weights_of(state)
        view = self._view(state)
        wanted = {slot: weights.of(slot) for slot in SlotName}
        for slot, value in wanted.items():
            if not 0 <= value <= MAX_WEIGHT:
                raise ValueError(f"weight {value} for {slot} is outside 0..{MAX_WEIGHT}")
        for slot in SlotName:
            refused = cannot_take(view, slot) if wanted[slot] > current[slot] else None
            if refused is not None:
                raise ProviderError(
                    f"refused to move weight onto {slot}: {refused}; HAProxy would answer 503 for its share. "
                    f"Weights stay at blue {current[SlotName.BLUE]} / green {current[SlotName.GREEN]}"
                )
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
