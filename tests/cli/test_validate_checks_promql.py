"""``fleet validate`` asks Prometheus' own parser about the configured queries, and says when it could not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleet.rehearsal.listen_ports import free_port
from tests.cli.test_commands import copy_project
from tests.traffic.peers import PrometheusProcess
from tests.traffic.support import without_prometheus

GOOD_REQUESTS = '{__name__=~"haproxy_server_(http_responses|connection_errors|response_errors)_total",server="{slot}"}'


def with_prometheus(tmp_path: Path, url: str, errors: str, requests: str = GOOD_REQUESTS) -> Path:
    project = copy_project(tmp_path)
    stack = project / "stacks" / "Pulumi.local.yaml"
    text = stack.read_text()
    start = text.index("  fleet:analysis:")
    end = text.index("  fleet:rollout:")
    block = (
        "  fleet:analysis:\n"
        "    source: prometheus\n"
        f"    url: {url}\n"
        "    window: 30s\n"
        "    queries:\n"
        f"      requests: '{requests}'\n"
        f"      errors: '{errors}'\n"
    )
    stack.write_text(text[:start] + block + text[end:].replace("    stepBake: 60s\n", ""))
    return project


@pytest.fixture(scope="module")
def prometheus() -> Any:
    with PrometheusProcess([f"127.0.0.1:{free_port()}"], wait_for_targets=False) as server:  # nothing to scrape
        yield server.url




@pytest.mark.prometheus
@without_prometheus
def test_a_query_prometheus_cannot_parse_is_a_problem_naming_the_query(
    fleet: Any, tmp_path: Path, prometheus: str
) -> None:
    project = with_prometheus(tmp_path, prometheus, errors='sum(rate(x{server="{slot}"}[5m])')

    result = fleet("validate", "local", "--output", "json", extra_env={"FLEET_PROJECT": str(project)})

    assert result.code == 2, result.out + result.err
    [problem] = result.json()["problems"]  # type: ignore[index]
    assert problem["key"] == "fleet:analysis.queries.errors"
    assert "parse error" in problem["problem"]


@pytest.mark.prometheus
@without_prometheus
def test_queries_prometheus_accepts_pass_and_a_sum_over_counters_is_a_warning(
    fleet: Any, tmp_path: Path, prometheus: str
) -> None:
    project = with_prometheus(
        tmp_path, prometheus, errors='sum(haproxy_server_http_responses_total{server="{slot}",code="5xx"})'
    )

    result = fleet("validate", "local", extra_env={"FLEET_PROJECT": str(project)})

    assert result.code == 0, result.out + result.err
    assert "warning: stacks/Pulumi.local.yaml:fleet:analysis.queries.errors: aggregates its series" in result.err
    assert "queries.requests" not in result.err


def test_an_unreachable_prometheus_is_a_warning_not_a_problem(fleet: Any, tmp_path: Path) -> None:
    project = with_prometheus(tmp_path, f"http://127.0.0.1:{free_port()}", errors='x{server="{slot}"}')

    result = fleet("validate", "local", "--output", "json", extra_env={"FLEET_PROJECT": str(project)})

    assert result.code == 0, result.out + result.err
    [warning] = result.json()["warnings"]  # type: ignore[index]
    assert warning["key"] == "fleet:analysis.url"
    assert "queries not checked: could not reach Prometheus" in warning["warning"]
