"""A Route53 environment's teardown bake must outlast the records' TTL: cached answers point at the old slot."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_validate_one_pass import BASE, _run


def test_a_teardown_bake_shorter_than_the_ttl_is_a_problem(tmp_path: Path) -> None:
    stack = BASE + (
        "  fleet:hostnames: [app.example.com]\n"
        "  fleet:traffic: {provider: route53, zoneId: Z1, hostnames: [app.example.com], ttl: 300}\n"
        "  fleet:teardown: {bake: 2m}\n"
    )

    result = _run(tmp_path, stack, "-o", "json")

    assert result.exit_code == 2, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [p["key"] for p in problems] == ["fleet:teardown.bake"], problems
    assert "120s is shorter than the records' TTL (300s" in problems[0]["problem"]


def test_a_bake_of_at_least_the_ttl_is_fine(tmp_path: Path) -> None:
    stack = BASE + (
        "  fleet:hostnames: [app.example.com]\n"
        "  fleet:traffic: {provider: route53, zoneId: Z1, hostnames: [app.example.com], ttl: 60}\n"
        "  fleet:teardown: {bake: 1m}\n"
    )

    assert _run(tmp_path, stack).exit_code == 0
