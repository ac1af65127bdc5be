"""Which slot ran which workload when, from the API servers' own audit logs (tests only).

Each cluster's kube-apiserver logs every write to a CronJob, Deployment or
StatefulSet with the object as stored (``--audit-policy-file``, level
RequestResponse). Merged by ``stageTimestamp``, the writes replay each
object's running state per slot: a CronJob runs unless ``spec.suspend`` is
true, a Deployment or StatefulSet runs while ``spec.replicas`` > 0; a deleted
object, or any object of a destroyed cluster (its end time given), stops. A
dry run or a refused write changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

KINDS = {"cronjobs": "CronJob", "deployments": "Deployment", "statefulsets": "StatefulSet"}


@dataclass(frozen=True)
class Change:
    """A write the API server stored: ``key`` (``Kind namespace/name``) runs or not on ``cluster`` from ``at``."""

    at: datetime
    cluster: str
    slot: str
    key: str
    running: bool


@dataclass(frozen=True)
class Interval:
    """``key`` ran on ``slot`` (its cluster ``cluster``) from ``start`` until ``end`` (None: still running)."""

    slot: str
    cluster: str
    key: str
    start: datetime
    end: datetime | None


def runs(kind: str, obj: Mapping[str, object] | None) -> bool:
    spec = (obj or {}).get("spec")
    if not isinstance(spec, Mapping):
        return False
    if kind == "CronJob":
        return spec.get("suspend") is not True
    replicas = spec.get("replicas", 1)
    return isinstance(replicas, int) and replicas > 0


def read_log(lines: Iterable[str], cluster: str, slot: str) -> list[Change]:
    """The stored writes of one API server's audit log (JSON lines), in its order."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        kind = KINDS.get(ref.get("resource", ""))
        code = (event.get("responseStatus") or {}).get("code", 0)
        if (kind is None or event.get("stage") != "ResponseComplete" or not 200 <= code < 300
                or "dryRun=" in event.get("requestURI", "") or ref.get("subresource")):
            continue
        verb = event.get("verb")
        if verb not in ("create", "update", "patch", "delete"):
            continue
        key = f"{kind} {ref.get('namespace')}/{ref.get('name')}"
        running = verb != "delete" and runs(kind, event.get("responseObject"))
        out.append(Change(datetime.fromisoformat(event["stageTimestamp"]), cluster, slot, key, running))
    return out


def replay(changes: Iterable[Change], ended: Mapping[str, datetime]) -> list[Interval]:
    """Every interval an object ran, per cluster; ``ended`` closes a destroyed cluster's intervals."""
    open_: dict[tuple[str, str], tuple[str, datetime]] = {}
    out = []
    for change in sorted(changes, key=lambda c: c.at):
        where = (change.cluster, change.key)
        if change.running and where not in open_:
            open_[where] = (change.slot, change.at)
        elif not change.running and where in open_:
            slot, start = open_.pop(where)
            out.append(Interval(slot, change.cluster, change.key, start, change.at))
    for (cluster, key), (slot, start) in open_.items():
        end = ended.get(cluster)
        out.append(Interval(slot, cluster, key, start, None if end is None or end < start else end))
    return sorted(out, key=lambda i: i.start)


def both_ran(intervals: Iterable[Interval], key: str) -> list[tuple[Interval, Interval]]:
    """Every pair of intervals in which ``key`` ran on two slots at once."""
    mine = [i for i in intervals if i.key == key]
    pairs = []
    for n, a in enumerate(mine):
        for b in mine[n + 1:]:
            if a.slot == b.slot:
                continue
            a_end, b_end = a.end or datetime.max.replace(tzinfo=a.start.tzinfo), b.end or datetime.max.replace(
                tzinfo=b.start.tzinfo)
            if a.start < b_end and b.start < a_end:
                pairs.append((a, b))
    return pairs


def running_now(intervals: Iterable[Interval]) -> dict[str, set[str]]:
    """Per slot, what still runs at the end of the logs."""
    out: dict[str, set[str]] = {}
    for i in intervals:
        if i.end is None:
            out.setdefault(i.slot, set()).add(i.key)
    return out
