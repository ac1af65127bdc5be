"""The engine built from Go modules runs a Python program for real: preview, up, a no-op up, destroy.

The program's one resource is a Python dynamic provider writing a file, so
the test needs the CLI, fleet's language host with its launcher and the
dynamic-provider plugin, and nothing else: no download, no cloud.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.realpulumi.conftest import ROOT, Pulumi

pytestmark = [pytest.mark.realpulumi, pytest.mark.slow, pytest.mark.timeout(600)]

PROGRAM = '''
import pathlib

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class FileProvider(ResourceProvider):
    def create(self, props):
        pathlib.Path(props["path"]).write_text(props["text"])
        return CreateResult(id_=props["path"], outs=props)

    def delete(self, id, props):
        pathlib.Path(id).unlink()


class File(Resource):
    def __init__(self, name, path, text):
        super().__init__(FileProvider(), name, {"path": path, "text": text})


config = pulumi.Config()
f = File("greeting", config.require("path"), "hello from the real engine\\n")
pulumi.export("path", f.id)
pulumi.export("stack", pulumi.get_stack())
'''


@pytest.fixture
def engine_components() -> tuple[str, ...]:
    return ("pulumi",)  # the CLI, the language host and the dynamic-provider plugin; no Kubernetes


@pytest.fixture
def project(tmp_path: Path) -> Path:
    work = tmp_path / "small"
    work.mkdir()
    (work / "Pulumi.yaml").write_text(
        "name: small\n"
        "runtime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {ROOT / '.venv'}\n"
    )
    (work / "__main__.py").write_text(PROGRAM)
    return work


def test_preview_up_noop_and_destroy_of_a_python_program(project: Path, tmp_path: Path, pulumi: Pulumi) -> None:
    target = tmp_path / "greeting.txt"
    pulumi(project, "stack", "init", "dev")
    pulumi(project, "config", "set", "path", str(target))

    preview = pulumi(project, "preview", "--diff")
    assert "+ pulumi:pulumi:Stack" in preview.stdout or "create" in preview.stdout
    assert not target.exists(), "a preview must not create anything"

    pulumi(project, "up", "--yes", "--skip-preview")
    assert target.read_text() == "hello from the real engine\n"
    outputs = json.loads(pulumi(project, "stack", "output", "--json").stdout)
    assert outputs == {"path": str(target), "stack": "dev"}

    again = pulumi(project, "preview", "--expect-no-changes")
    assert again.returncode == 0

    pulumi(project, "destroy", "--yes", "--skip-preview")
    assert not target.exists()
    state = json.loads(pulumi(project, "stack", "export").stdout)
    assert [r["type"] for r in state["deployment"].get("resources") or []] == []


def test_a_program_without_any_config_runs(project: Path, pulumi: Pulumi) -> None:
    """The engine sends no config map at all then; the launcher must still get a JSON object."""
    (project / "__main__.py").write_text('import pulumi\npulumi.export("stack", pulumi.get_stack())\n')
    pulumi(project, "stack", "init", "bare")
    pulumi(project, "up", "--yes", "--skip-preview")
    assert json.loads(pulumi(project, "stack", "output", "--json").stdout) == {"stack": "bare"}
