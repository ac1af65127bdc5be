"""``fleet validate`` lists every problem of a file in one pass, cross-field mismatches included.

A new stack file often has several mistakes at once; fixing them one run at a
time (five passes over one file) is what issue 16 complains about. Each
problem names its file and key, in text and in JSON, and the command exits 2.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from fleet.cli import cli

FILE = "stacks/Pulumi.local.yaml"
BASE = """\
config:
  fleet:cluster: {driver: kind, version: "1.29"}
  fleet:gitops: {url: "https://github.com/example/platform-gitops", branch: main, path: clusters/local}
  fleet:analysis: {source: probe, urls: {blue: "http://127.0.0.1:9/", green: "http://127.0.0.1:9/"}}
"""
FIVE_PROBLEMS = BASE + """\
  fleet:hostnames: [app.example.com]
  fleet:dns: {zoneId: ZONEA, ttl: 60}
  fleet:traffic:
    provider: route53
    zoneId: ZONEB
    hostnames: [app.example.com, api.example.com]
    ttl: 60
  fleet:rollout:
    steps: [50, 25, 100]
    healthTimeout: soon
  fleet:teardwon: {bake: 1m}
"""
EXPECTED_KEYS = {
    "fleet:teardwon",
    "fleet:rollout.healthTimeout",
    "fleet:rollout.steps",
    "fleet:traffic.zoneId",
    "fleet:traffic.hostnames",
}


def _run(tmp_path: Path, stack: str, *args: str) -> Result:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\n")
    (tmp_path / FILE).write_text(stack)
    return CliRunner().invoke(
        cli, ["validate", "local", *args], env={"FLEET_PROJECT": str(tmp_path), "FLEET_STATE": str(tmp_path / "state")}
    )


def test_five_problems_are_listed_in_one_run_with_file_and_key(tmp_path: Path) -> None:
    result = _run(tmp_path, FIVE_PROBLEMS, "-o", "json")

    assert result.exit_code == 2, result.output
    problems = json.loads(result.stdout)["problems"]
    assert {p["key"] for p in problems} == EXPECTED_KEYS, problems
    assert all(p["file"] == FILE and p["environment"] == "local" for p in problems)
    by_key = {p["key"]: p["problem"] for p in problems}
    assert "did you mean fleet:teardown?" in by_key["fleet:teardwon"]
    assert "'soon' is not a duration" in by_key["fleet:rollout.healthTimeout"]
    assert "ZONEA" in by_key["fleet:traffic.zoneId"] and "ZONEB" in by_key["fleet:traffic.zoneId"]
    assert "api.example.com" in by_key["fleet:traffic.hostnames"]
    assert "app.example.com," not in by_key["fleet:traffic.hostnames"].split(" not in ")[0]


def test_the_table_names_every_problem_too(tmp_path: Path) -> None:
    result = _run(tmp_path, FIVE_PROBLEMS)

    assert result.exit_code == 2, result.output
    for key in EXPECTED_KEYS:
        assert key in result.stdout, (key, result.stdout)
    assert FILE in result.stdout


def test_an_unknown_key_suggests_the_closest_and_lists_every_valid_key(tmp_path: Path) -> None:
    stack = FIVE_PROBLEMS.replace("  fleet:teardwon: {bake: 1m}\n", "  fleet:teardown: {bake: 1m, confrim: true}\n")

    problems = json.loads(_run(tmp_path, stack, "-o", "json").stdout)["problems"]

    message = {p["key"]: p["problem"] for p in problems}["fleet:teardown.confrim"]
    assert "did you mean fleet:teardown.confirm?" in message
    assert "known: bake, confirm" in message


def test_a_traffic_ttl_that_differs_from_the_dns_ttl_is_a_problem(tmp_path: Path) -> None:
    stack = BASE + (
        "  fleet:hostnames: [app.example.com]\n"
        "  fleet:dns: {zoneId: Z1, ttl: 300}\n"
        "  fleet:traffic: {provider: route53, zoneId: Z1, hostnames: [App.example.com.], ttl: 60}\n"
    )

    result = _run(tmp_path, stack, "-o", "json")

    assert result.exit_code == 2, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [p["key"] for p in problems] == ["fleet:traffic.ttl"], problems
