"""The pipeline templates parse, fan out per environment, and run only fleet commands and options that exist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from fleet.cli import cli

PIPELINES = Path(__file__).resolve().parents[2] / "docs" / "pipelines"
TEMPLATES = sorted(PIPELINES.glob("*.yml"))
_CALL = re.compile(r"(?<![\w./-])fleet\s+([a-z][a-z-]*)((?:\s+[a-z][a-z-]*)?)([^\n>|;&]*)")
_OPTION = re.compile(r"(?<![\w$-])(--?[a-zA-Z][\w-]*)")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def calls(doc: Any) -> list[tuple[str, list[str], str]]:
    found = []
    for text in strings(doc):
        for match in _CALL.finditer(text):
            name, sub, rest = match.group(1), match.group(2).strip(), match.group(3)
            found.append((f"{name} {sub}".strip(), _OPTION.findall(rest), match.group(0)))
    return found


def command(path: str) -> click.Command:
    name, _, sub = path.partition(" ")
    found = cli.commands.get(name)
    assert found is not None, f"fleet {name} is not a command"
    if isinstance(found, click.Group):
        assert sub and sub in found.commands, f"fleet {path}: no such subcommand"
        return found.commands[sub]
    return found


def options(cmd: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for params in (cmd.params, cli.params):
        for p in params:
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names


def test_the_check_catches_a_misspelt_option_and_command() -> None:
    (call,) = calls({"run": 'fleet upgrade "$ENV" --yes --max-paralel 3 > out.json'})
    assert "--max-paralel" in call[1] and "--max-paralel" not in options(command(call[0]))
    with pytest.raises(AssertionError):
        command("upgrades")


def test_there_is_a_github_and_a_gitlab_template() -> None:
    assert {p.name for p in TEMPLATES} == {"github-actions.yml", "gitlab-ci.yml"}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_fleet_command_and_option_exists(template: Path) -> None:
    doc = yaml.safe_load(template.read_text())
    found = calls(doc)
    assert {name for name, _, _ in found} >= {"upgrade", "history"}
    for name, opts, text in found:
        known = options(command(name))
        for opt in opts:
            assert opt in known, f"{template.name}: `{text.strip()}`: fleet {name} has no option {opt}"
    dry = [opts for name, opts, _ in found if name == "upgrade" and "--dry-run" in opts]
    assert dry and all({"--output", "--wave", "--soak"} <= set(o) for o in dry)


def test_github_actions_runs_on_a_schedule_and_by_hand_and_fans_out_per_environment() -> None:
    doc = yaml.safe_load((PIPELINES / "github-actions.yml").read_text())
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads the key `on` as true
    assert "schedule" in on and "workflow_dispatch" in on
    assert doc["env"]["FLEET_STATE"].startswith("s3://")
    jobs = doc["jobs"]
    waves = [j for j in jobs if j.startswith("wave-")]
    assert waves == ["wave-dev", "wave-staging", "wave-prod"]
    for wave in waves:
        plan = f"plan-{wave.removeprefix('wave-')}"
        assert jobs[wave]["needs"] == plan
        assert jobs[wave]["strategy"]["matrix"] == f"${{{{ fromJSON(needs.{plan}.outputs.matrix) }}}}"
        assert jobs[wave]["strategy"]["fail-fast"] is False
        uploads = [s for s in jobs[wave]["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
        assert uploads and ".html" in uploads[0]["with"]["path"] and ".json" in uploads[0]["with"]["path"]
    assert jobs["plan-staging"]["needs"] == "wave-dev" and jobs["plan-prod"]["needs"] == "wave-staging"
    assert "--now" in options(command("upgrade"))  # the manual trigger's input


def test_gitlab_plans_each_wave_into_a_child_pipeline_with_parallel_matrix() -> None:
    doc = yaml.safe_load((PIPELINES / "gitlab-ci.yml").read_text())
    assert doc["variables"]["FLEET_STATE"].startswith("s3://")
    assert doc["stages"] == ["plan-dev", "wave-dev", "plan-staging", "wave-staging", "plan-prod", "wave-prod"]
    script = "\n".join(doc[".plan"]["script"])
    assert '"parallel": {"matrix": [{"ENV": $wave.envs}]}' in script and "artifacts" in script
    assert doc[".wave"]["trigger"]["strategy"] == "depend"
    for wave in ("dev", "staging", "prod"):
        assert doc[f"wave-{wave}"]["trigger"]["include"] == [{"artifact": f"wave-{wave}.yml", "job": f"plan-{wave}"}]
        assert doc[f"plan-{wave}"]["variables"] == {"WAVE": wave}
