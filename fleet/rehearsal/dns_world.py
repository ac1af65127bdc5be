"""Route53 for a rehearsal: moto in server mode on 127.0.0.1, holding the environment's weighted records.

An environment that moves traffic with Route53 weights is rehearsed with
the real adapter (:class:`fleet.adapters.traffic.route53.Route53Traffic`)
talking Route53's wire protocol to ``moto_server`` (``pip install
'moto[server]'``) on a free port, started by :func:`fleet.rehearsal.procs.spawn`
and stopped by its PID. The rehearsal plays the infrastructure program's
part first: it creates the environment's zone and, per hostname, a weighted
CNAME record per slot (SetIdentifier ``blue``/``green``, the rehearsal's
TTL) whose value names that slot's stand-in ingress. moto assigns its own
zone id, printed beside the configured one. The users find the ingresses
through caching resolvers (:mod:`fleet.rehearsal.resolvers`), so the TTL
the adapter waits after each step is the time their caches really take.

The adapter gets a session with dummy credentials: the user's own AWS
credentials are never used (nor sent, signed, to the local server).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.load import RequestRecord
from fleet.rehearsal.procs import spawn

DUMMY = {"aws_access_key_id": "rehearsal", "aws_secret_access_key": "rehearsal", "aws_session_token": "rehearsal"}
INGRESS_DOMAIN = "ingress.rehearsal.invalid"


def find_moto_server() -> str | None:
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


def ingress_value(slot: str) -> str:
    """The CNAME value standing for ``slot``'s ingress (a name that resolves nowhere but in the rehearsal)."""
    return f"{slot}.{INGRESS_DOMAIN}."


class MotoError(RuntimeError):
    """moto_server did not start."""


class MotoRoute53:
    """``moto_server`` on a free 127.0.0.1 port; ``start()``, ``stop()`` (by PID)."""

    def __init__(self) -> None:
        found = find_moto_server()
        if found is None:
            raise MotoError("moto_server is not installed (pip install 'moto[server]')")
        self.binary = found
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.zone_id = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self, *, timeout_s: float = 30.0) -> MotoRoute53:
        self.port = free_port()
        self.proc = spawn(
            [self.binary, "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise MotoError(f"moto_server did not start on 127.0.0.1:{self.port}") from None
                time.sleep(0.05)

    def session(self) -> Any:
        import boto3

        return boto3.session.Session(
            region_name="us-east-1", aws_access_key_id=DUMMY["aws_access_key_id"],
            aws_secret_access_key=DUMMY["aws_secret_access_key"], aws_session_token=DUMMY["aws_session_token"],
        )

    def seed(self, zone: str, hostnames: Sequence[str], weights: Mapping[str, int], ttl: int) -> str:
        """Create ``zone`` with a weighted CNAME per slot and hostname (Route53 weights); its id."""
        client = self.session().client("route53", endpoint_url=self.url)
        created = client.create_hosted_zone(Name=zone, CallerReference=f"fleet-rehearsal-{time.time()}")
        self.zone_id = str(created["HostedZone"]["Id"]).removeprefix("/hostedzone/")
        changes = [
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": hostname, "Type": "CNAME", "SetIdentifier": slot, "Weight": weight, "TTL": ttl,
                "ResourceRecords": [{"Value": ingress_value(slot)}],
            }}
            for hostname in hostnames for slot, weight in weights.items()
        ]
        client.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": changes})
        return self.zone_id

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            wait_or_kill(proc, 10)


def zone_of(hostnames: Sequence[str]) -> str:
    """The longest domain every hostname lies under (``staging.example.com`` for app./api.staging...)."""
    split = [h.rstrip(".").split(".")[::-1] for h in hostnames]
    common: list[str] = []
    for labels in zip(*split, strict=False):
        if len(set(labels)) != 1:
            break
        common.append(labels[0])
    if len(common) == min(len(s) for s in split):  # one hostname is the zone apex of the others
        common = common[:-1] if len(hostnames) == 1 else common
    return ".".join(reversed(common)) or "rehearsal.invalid"


@dataclass(frozen=True)
class Settle:
    """After one weight change: how long users were still sent where a cache filled before it said."""

    changed_at: float
    stale_for_s: float
    stale_requests: int


def measured_settles(records: Sequence[RequestRecord], changes: Sequence[float]) -> list[Settle]:
    """For each change (monotonic time), the last request answered from a cache filled before it."""
    out = []
    for index, at in enumerate(changes):
        until = changes[index + 1] if index + 1 < len(changes) else None
        stale = [
            r for r in records
            if r.at >= at and (until is None or r.at < until) and r.resolved_at is not None and r.resolved_at < at
        ]
        out.append(Settle(at, max((r.at - at for r in stale), default=0.0), len(stale)))
    return out


class TimedTraffic:
    """A traffic port that notes when each weight change was done (monotonic), for :func:`measured_settles`.

    A resolver that read the records before the change returned may hold the old answer: the
    change counts from its return, as the wait the adapter asks for does.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.changes: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def set_weights(self, env: str, weights: Any) -> Any:
        applied = self.inner.set_weights(env, weights)
        self.changes.append(time.monotonic())
        return applied


def close_quietly(*parts: Any) -> None:
    for part in parts:
        if part is not None:
            with contextlib.suppress(Exception):
                part.stop()
