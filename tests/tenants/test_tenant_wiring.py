"""Where the tenants' settings are checked and used: ``fleet validate`` and the production ports' analysis."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fleet.adapters.analysis.haproxy import HAProxyAnalysis
from fleet.adapters.analysis.tenants import HAProxyTenantCounts, TenantAnalysis, with_tenants_from_settings
from fleet.cli import cli
from fleet.domain.tenants import TenantTraffic

STACK = """\
config:
  fleet:cluster: {driver: kind, version: "1.29"}
  fleet:gitops: {url: "https://github.com/example/platform-gitops", branch: main, path: clusters/local}
  fleet:analysis: {source: probe, urls: {blue: "http://127.0.0.1:9/", green: "http://127.0.0.1:9/"}}
  fleet:tenants:
    payments:
      namespaces: [payments]
      traffic: {hosts: [pay.example.com], pathPrefix: [/pay/]}
"""


def test_fleet_validate_names_a_wrong_tenant_traffic_key(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\n")
    (tmp_path / "stacks/Pulumi.local.yaml").write_text(STACK)
    result = CliRunner().invoke(
        cli, ["validate", "local", "-o", "json"],
        env={"FLEET_PROJECT": str(tmp_path), "FLEET_STATE": str(tmp_path / "state")},
    )
    assert result.exit_code == 2, result.output
    problems = json.loads(result.stdout)["problems"]
    by_key = {p["key"]: p["problem"] for p in problems}
    assert "fleet:tenants.payments.traffic" in by_key, problems
    assert "pathPrefix" in by_key["fleet:tenants.payments.traffic"]
    assert "pathPrefixes" in by_key["fleet:tenants.payments.traffic"]


def test_haproxy_analysis_gets_the_tenants_told_apart_by_host_or_path() -> None:
    source = HAProxyAnalysis("/nonexistent/admin.sock")
    tenants = (TenantTraffic("payments", hosts=("pay.example.com",)), TenantTraffic("docs"))
    wrapped = with_tenants_from_settings(source, tenants)
    assert isinstance(wrapped, TenantAnalysis) and wrapped.inner is source
    assert isinstance(wrapped.counts, HAProxyTenantCounts) and wrapped.counts.tenants == ("payments",)
    assert with_tenants_from_settings(source, (TenantTraffic("docs"),)) is source
