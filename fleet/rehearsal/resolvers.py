"""Users who find the slots through DNS: a population of caching resolvers in front of Route53 (moto).

With Route53 weights, nobody moves traffic at once: each DNS query gets one
of the weighted records, chosen by weight, and the resolver that asked keeps
that answer for the record's TTL, serving it to every user behind it. So
after a weight change the users' split follows the new weights only as the
resolvers' caches expire, which is why the adapter asks the engine to wait
the TTL before analysing a step. This module makes that real in a
rehearsal: ``resolvers`` simulated resolvers read the weighted record sets
of a hostname from the Route53 API (moto in server mode on 127.0.0.1,
``ListResourceRecordSets`` over plain HTTP, as an authoritative server would
read its zone), pick one record by weight as Route53 does, and cache the
answer for the record's TTL. Each user (a load worker) sits behind one
resolver and asks for one of the environment's hostnames; the record's
value names the slot's stand-in ingress, whose address the users' HTTP
client is given. Every request is recorded with the time its resolver read
the answer it used (``resolved_at``), from which the rehearsal measures how
long stale answers were still served after each change.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleet.rehearsal.backends import SLOT_HEADER
from fleet.rehearsal.load import LoadGenerator, RequestRecord

NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
ROUTE53_SCOPE = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=rehearsal/20260101/us-east-1/route53/aws4_request, "
    "SignedHeaders=host, Signature=0",
}
"""moto in server mode serves every AWS API on one port and picks the API from the credential scope."""


class ResolveError(RuntimeError):
    """The simulated resolver got no usable answer."""


@dataclass(frozen=True)
class Answer:
    value: str
    read_at: float
    expires_at: float


def read_weighted(endpoint: str, zone_id: str, hostname: str, record_type: str = "CNAME") -> list[tuple[str, int, int]]:
    """The weighted records of ``hostname`` in the zone: (value, weight, ttl) each, read from the Route53 API."""
    parts = urllib.parse.urlsplit(endpoint)
    query = urllib.parse.urlencode({"name": hostname, "type": record_type, "maxitems": "100"})
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=2.0)
    try:
        conn.request("GET", f"/2013-04-01/hostedzone/{zone_id}/rrset?{query}", headers=ROUTE53_SCOPE)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as err:
        raise ResolveError(f"Route53 did not answer: {err}") from err
    finally:
        conn.close()
    if response.status != 200:
        raise ResolveError(f"Route53 answered {response.status}")
    found = []
    for rrset in ET.fromstring(body).iter(f"{NS}ResourceRecordSet"):
        name = (rrset.findtext(f"{NS}Name") or "").rstrip(".").lower()
        if name != hostname.rstrip(".").lower() or rrset.findtext(f"{NS}Type") != record_type:
            continue
        value = rrset.findtext(f"{NS}ResourceRecords/{NS}ResourceRecord/{NS}Value") or ""
        found.append((value, int(rrset.findtext(f"{NS}Weight") or 0), int(rrset.findtext(f"{NS}TTL") or 0)))
    return found


class Resolver:
    """One caching resolver: an answer per hostname, kept for its record's TTL."""

    def __init__(self, endpoint: str, zone_id: str, seed: int) -> None:
        self.endpoint = endpoint
        self.zone_id = zone_id
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._cache: dict[str, Answer] = {}
        self.reads = 0

    def resolve(self, hostname: str) -> Answer:
        with self._lock:
            now = time.monotonic()
            cached = self._cache.get(hostname)
            if cached is not None and now < cached.expires_at:
                return cached
            records = read_weighted(self.endpoint, self.zone_id, hostname)
            self.reads += 1
            if not records:
                raise ResolveError(f"{hostname} has no weighted records")
            weights = [w for _, w, _ in records]
            if sum(weights) == 0:  # Route53 answers all-zero weights with an equal split
                weights = [1] * len(records)
            value, _, ttl = self._rng.choices(records, weights=weights)[0]
            answer = Answer(value, now, now + ttl)
            self._cache[hostname] = answer
            return answer


class DnsLoad(LoadGenerator):
    """The load generator's users, each behind one of ``resolvers`` caching resolvers, asking for ``hostnames``."""

    def __init__(
        self, endpoint: str, zone_id: str, hostnames: Sequence[str], addresses: Mapping[str, tuple[str, int]], *,
        resolvers: int, **load: float,
    ) -> None:
        super().__init__("http://127.0.0.1/", **load)  # type: ignore[arg-type]
        self.resolvers = [Resolver(endpoint, zone_id, seed) for seed in range(resolvers)]
        self.hostnames = list(hostnames)
        self.addresses = {value.rstrip(".").lower(): address for value, address in addresses.items()}

    def _run(self, index: int) -> None:
        resolver = self.resolvers[index % len(self.resolvers)]
        hostname = self.hostnames[(index % len(self.resolvers)) % len(self.hostnames)]  # one name per resolver
        conns: dict[tuple[str, int], http.client.HTTPConnection] = {}
        try:
            for _ in self._turns(index):
                record = self._visit(resolver, hostname, conns)
                with self._lock:
                    self._records.append(record)
        finally:
            for conn in conns.values():
                conn.close()

    def _visit(
        self, resolver: Resolver, hostname: str, conns: dict[tuple[str, int], http.client.HTTPConnection]
    ) -> RequestRecord:
        started = time.monotonic()
        try:
            answer = resolver.resolve(hostname)
        except ResolveError as err:
            return RequestRecord(started, 0, None, time.monotonic() - started, f"DNS: {err}")
        address = self.addresses.get(answer.value.rstrip(".").lower())
        if address is None:
            return RequestRecord(started, 0, None, 0.0, f"DNS: {answer.value} is no ingress", answer.read_at)
        conn = conns.get(address)
        if conn is None:
            conn = conns[address] = http.client.HTTPConnection(*address, timeout=self.timeout_s)
        sent = time.monotonic()
        try:
            conn.request("GET", "/", headers={"Host": hostname})
            response = conn.getresponse()
            response.read()
            if response.will_close:
                conns.pop(address).close()
            return RequestRecord(
                started, response.status, response.getheader(SLOT_HEADER), time.monotonic() - sent, None,
                answer.read_at,
            )
        except (OSError, http.client.HTTPException) as err:
            conns.pop(address).close()
            return RequestRecord(
                started, 0, None, time.monotonic() - sent, f"{type(err).__name__}: {err}", answer.read_at
            )

    @property
    def dns_reads(self) -> int:
        return sum(r.reads for r in self.resolvers)


def dns_load(request: Mapping[str, object], backends: Mapping[str, tuple[str, int]]) -> DnsLoad:
    """The host's ``load_start`` with ``dns``: ``{endpoint, zone_id, hostnames, values, resolvers}``.

    ``values`` maps each record value (``blue.ingress.example.``) to the name of the backend it stands for.
    """
    dns = request["dns"]
    assert isinstance(dns, Mapping)
    values: Mapping[str, str] = dns["values"]
    return DnsLoad(
        str(dns["endpoint"]), str(dns["zone_id"]), list(dns["hostnames"]),
        {value: tuple(backends[name]) for value, name in values.items()},  # type: ignore[misc]
        resolvers=int(dns["resolvers"]),
        rate=float(request["rate"]),  # type: ignore[arg-type]
        total=int(request["total"]),  # type: ignore[call-overload]
        time_limit_s=float(request["time_limit_s"]),  # type: ignore[arg-type]
        threads=int(request["threads"]),  # type: ignore[call-overload]
    )
