"""In-memory implementations of every port: the simulated world of ``fleet rehearse --simulated`` and the tests.

They behave like the real thing where the engine can tell the difference:
provisioning takes (simulated) minutes and converges, health arrives after a
reconcile delay, weights stick, analysis watches a window. Faults are
injected through plain fields (``fail_provision``, ``never_healthy``,
``fail_at_weight`` ...), never by patching. Production commands never import
this package (an import-linter contract says so).
"""

from fleet.rehearsal.sim.cluster import FakeHealth, FakeProvisioner
from fleet.rehearsal.sim.traffic import LATENCY_SAMPLE, LATENCY_SPREAD, FakeAnalysis, FakeTraffic, poisson
from fleet.rehearsal.sim.world import OLD_REVISION, REVISION, FakeClock, RecordingNotifier, World

__all__ = [
    "LATENCY_SAMPLE",
    "LATENCY_SPREAD",
    "OLD_REVISION",
    "REVISION",
    "FakeAnalysis",
    "FakeClock",
    "FakeHealth",
    "FakeProvisioner",
    "FakeTraffic",
    "RecordingNotifier",
    "World",
    "poisson",
]
