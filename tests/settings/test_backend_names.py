"""A backend or server name with ``;`` (which HAProxy's runtime API reads as a command separator) is refused
wherever fleet takes one: ``fleet validate`` names the key, whichever block holds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleet.cli import cli

STACK = """\
config:
  fleet:cluster: {driver: kind, version: "1.29"}
  fleet:gitops: {url: "https://github.com/example/platform-gitops"}
  fleet:traffic: {provider: haproxy, socket: /run/haproxy.sock, %s}
  fleet:analysis: {source: haproxy, %s}
"""


@pytest.mark.parametrize(
    ("traffic", "analysis", "key"),
    [
        ("backend: 'app;disable server app/blue'", "backend: app", "fleet:traffic.backend"),
        ("servers: {blue: 'b;x', green: g}", "backend: app", "fleet:traffic.servers.blue"),
        ("backend: app", "backend: 'app;shutdown sessions'", "fleet:analysis.backend"),
        ("backend: app", "servers: {green: 'g;x'}", "fleet:analysis.servers.green"),
    ],
)
def test_a_name_with_a_semicolon_is_refused_naming_its_key(
    tmp_path: Path, traffic: str, analysis: str, key: str
) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\n")
    (tmp_path / "stacks" / "Pulumi.local.yaml").write_text(STACK % (traffic, analysis))
    result = CliRunner().invoke(
        cli, ["validate", "local", "-o", "json"],
        env={"FLEET_PROJECT": str(tmp_path), "FLEET_STATE": str(tmp_path / "state")},
    )
    assert result.exit_code == 2, result.output
    assert key in {p["key"] for p in json.loads(result.stdout)["problems"]}
