"""Each tenant told: ``fleet status --tenant``, the tenants' sections of ``fleet history`` and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_a_tenant_failing_on_green_is_rolled_back_by_name_and_its_story_says_it_caused_it(
    fleet: Any, tmp_path: Path
) -> None:
    state = str(tmp_path / "s")
    result = fleet("rehearse", "local", "--simulated", "--state", state, "--fault", "tenant-errors=payments:1")
    assert result.code == 1, result.err
    assert "ROLLED_BACK" in result.out and "tenant payments:" in result.out

    payments = fleet("status", "local", "--tenant", "payments", "--state", state, "--output", "json")
    assert payments.code == 0, payments.err
    story = payments.json()
    assert story["schemaVersion"] == 1
    assert story["outcome"] == "ROLLED_BACK" and story["caused"] is True
    assert story["traffic_moved_at"] is not None
    assert story["steps"] and story["steps"][-1]["outcome"] == "fail"
    compared = {o["ref"] for o in story["objects"]}
    assert compared == {"Kustomization/payments/payments", "HelmRelease/payments/payments-api"}
    assert all(o["old"] == o["new"] and o["ready_old"] and o["ready_new"] for o in story["objects"])

    search = fleet("status", "local", "--tenant", "search", "--state", state, "--output", "json").json()
    assert search["caused"] is False
    assert all(step["outcome"] != "fail" for step in search["steps"])

    text = fleet("status", "local", "--tenant", "payments", "--state", state)
    assert "caused by payments: yes" in text.out and "at 10%" in text.out

    report = tmp_path / "r.html"
    history = fleet("history", "local", "--state", state, "--report", str(report))
    assert history.code == 0, history.err
    assert "tenants:" in history.out and "caused by search: no" in history.out
    html = report.read_text()
    assert "<h2>Tenants</h2>" in html and "caused the rolled_back" in html
    assert "Traffic started moving to green at" in html and "HelmRelease/payments/payments-api" in html


def test_a_stuck_tenant_halts_before_traffic_moves_naming_the_tenant_and_fluxs_message(
    fleet: Any, tmp_path: Path
) -> None:
    state = str(tmp_path / "s")
    result = fleet("rehearse", "local", "--simulated", "--state", state, "--fault", "tenant-stuck=search",
                   "--output", "json")
    assert result.code == 1, result.err
    cutover = result.json()["status"]["state"]["cutover"]
    assert cutover["phase"] == "FAILED"
    assert "tenant search: Kustomization/search/search: HealthCheckFailed: health check failed" in cutover["reason"]
    story = fleet("status", "local", "--tenant", "search", "--state", state, "--output", "json").json()
    assert story["caused"] is True and story["traffic_moved_at"] is None
    assert story["blocking"] and story["blocking"][0].startswith("Kustomization/search/search: HealthCheckFailed")
    other = fleet("status", "local", "--tenant", "payments", "--state", state, "--output", "json").json()
    assert other["caused"] is False and not other["blocking"]


def test_an_unknown_tenant_is_a_usage_error(fleet: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    assert fleet("rehearse", "local", "--simulated", "--state", state).code == 0
    result = fleet("status", "local", "--tenant", "nobody", "--state", state)
    assert result.code == 2 and "no tenant 'nobody'" in result.err
    fault = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "t"), "--fault", "tenant-errors=x:1")
    assert fault.code == 2 and "no tenant 'x'" in fault.err
