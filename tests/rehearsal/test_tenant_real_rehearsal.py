"""On real parts: a tenant with 0.5 % of the traffic failing completely on green is rolled back by name.

Real HAProxy carries the load generator's 200 requests/s; one request in 200
goes to each tenant's path prefix; green's backend answers 500 to every
request of ``payments``. The slot's own judge never fails the slot (its
success rate stays near 99.5 %); the tenant's judge does, and the rollback
names the tenant.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rehearsal.test_real_rehearsal import MISSING, fleet

pytestmark = [
    pytest.mark.haproxy,
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"the real rehearsal needs {', '.join(MISSING)}"),
]


def test_a_small_tenant_failing_fully_on_green_is_rolled_back_naming_it_while_the_slot_passes(tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    result = fleet(tmp_path, "rehearse", "local", "--state", state, "--fault", "tenant-errors=payments:1",
                   "--output", "json", timeout=120)
    assert result.code == 1, result.err
    cutover = result.json()["status"]["state"]["cutover"]
    assert cutover["phase"] == "ROLLED_BACK"
    assert "tenant payments:" in cutover["reason"], cutover["reason"]
    history = fleet(tmp_path, "history", "local", "--state", state, "--output", "json").json()
    failing = [r["detail"]["verdict"] for r in history
               if r["event"] == "AnalysisCompleted" and r["detail"]["verdict"]["outcome"] == "fail"]
    assert failing
    for verdict in failing:
        assert "; slot:" not in verdict["reason"]  # the slot's own judge did not fail it
        assert verdict["evidence"]["success_rate"] >= 98.5
        (payments,) = [t for t in verdict["tenants"] if t["tenant"] == "payments"]
        assert payments["outcome"] == "fail" and payments["evidence"]["errors"] == payments["evidence"]["requests"]
    story = fleet(tmp_path, "status", "local", "--tenant", "payments", "--state", state, "--output", "json").json()
    assert story["caused"] is True
