"""The ports: every side effect the engine needs, as a small Protocol.

The engine only ever talks to these. Real adapters (Pulumi Automation API,
the Kubernetes API, HAProxy, Route53, Prometheus, a state directory or S3)
live in ``fleet.adapters`` and ``fleet.state``; in-memory fakes with
configurable delays and injectable faults live in ``fleet.rehearsal.sim`` and serve
both the tests and ``fleet rehearse``. Adapters raise only ``fleet.errors``
exceptions.

One module a concern: ``slots`` (provisioning, Flux health, singletons),
``traffic`` (weights, analysis, smoke hooks), ``notify`` (notices, webhooks,
confirmation), ``state`` (the store, its records, lock and requests) and
``clock``. Every name is re-exported here: import ports from ``fleet.ports``.
"""

from fleet.ports.clock import Clock, Interrupted
from fleet.ports.notify import Confirm, Notice, Notifier, Outbox, Target, Webhook
from fleet.ports.slots import GitOpsHealth, Layout, Provisioner, Singletons, iter_slots
from fleet.ports.state import Lease, LockInfo, Record, Request, StateStore
from fleet.ports.traffic import Analysis, Applied, HookResult, Hooks, Traffic

__all__ = [
    "Analysis",
    "Applied",
    "Clock",
    "Confirm",
    "GitOpsHealth",
    "HookResult",
    "Hooks",
    "Interrupted",
    "Layout",
    "Lease",
    "LockInfo",
    "Notice",
    "Notifier",
    "Outbox",
    "Provisioner",
    "Record",
    "Request",
    "Singletons",
    "StateStore",
    "Target",
    "Traffic",
    "Webhook",
    "iter_slots",
]
