"""No secret the fleet handles ever reaches output, history, state or the simulated world.

The fakes hand out kubeconfigs ``fake-kubeconfig-<env>-<slot>`` wrapped in
``Secret``; the configuration carries a token as a Pulumi ``secure:`` value.
A rehearsed cutover (and one killed half-way and resumed) is scanned byte for
byte for each of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fleet.domain.model import SlotName, Version
from fleet.domain.reports import Secret, SlotOutputs
from fleet.state.codec import to_jsonable

TOKEN = "ghp_FleetTestToken0123456789abcdefXYZ"
AGE_KEY = "AGE-SECRET-KEY-1QQQFLEETTESTSECRETKEYVALUE0123456789"
STACK = f"""\
config:
  fleet:cluster: {{driver: kind, version: "1.29"}}
  fleet:traffic: {{provider: haproxy}}
  fleet:gitToken:
    secure: {TOKEN}
  fleet:sopsAgeKey:
    secure: {AGE_KEY}
"""
SECRETS = (TOKEN, AGE_KEY, "fake-kubeconfig-local-blue", "fake-kubeconfig-local-green")


def _project(root: Path) -> Path:
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: fleet\n")
    (root / "stacks" / "Pulumi.local.yaml").write_text(STACK)
    return root


def _fleet(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_PROJECT"] = str(project)
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _leaks(texts: dict[str, str]) -> list[str]:
    return [f"{secret!r} in {where}" for where, text in texts.items() for secret in SECRETS if secret in text]


def _files(folder: Path) -> dict[str, str]:
    return {str(p): p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()}


def test_a_rehearsed_cutover_leaks_no_secret(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    state = tmp_path / "state"
    outputs = {}
    for output in ("table", "json"):
        done = _fleet(project, "rehearse", "local", "--simulated", "--state", str(state / output), "-o", output)
        assert done.returncode == 0, done.stderr
        outputs[f"stdout ({output})"] = done.stdout
        outputs[f"stderr ({output})"] = done.stderr
    history = _fleet(project, "history", "local", "--state", str(state / "json"), "-o", "json")
    status = _fleet(project, "status", "local", "--state", str(state / "json"), "-o", "json")
    validate = _fleet(project, "validate", "local", "-o", "json")
    outputs.update(history=history.stdout + history.stderr, status=status.stdout + status.stderr)
    outputs["validate"] = validate.stdout + validate.stderr

    assert _leaks(outputs) == []
    assert _leaks(_files(state)) == []


def test_a_killed_and_resumed_cutover_leaks_no_secret(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    state = tmp_path / "state"

    killed = _fleet(
        project, "rehearse", "local", "--simulated", "--state", str(state), "--fault", "crash-at=after:CheckParity"
    )
    resumed = _fleet(project, "resume", "local", "--state", str(state), "-o", "json")

    assert killed.returncode == -9 and resumed.returncode == 0, resumed.stderr
    assert _leaks({"killed": killed.stdout + killed.stderr, "resumed": resumed.stdout + resumed.stderr}) == []
    assert _leaks(_files(state)) == []


def test_the_codec_redacts_secret_values() -> None:
    outputs = SlotOutputs(
        slot=SlotName.GREEN,
        version=Version(1, 30),
        endpoint="https://x",
        ingress="x",
        kubeconfig=Secret("fake-kubeconfig-local-green"),
    )
    encoded = to_jsonable({"outputs": outputs, "list": [Secret("a-secret")]})
    assert encoded == {
        "outputs": {
            "slot": "green",
            "version": "1.30",
            "endpoint": "https://x",
            "ingress": "x",
            "kubeconfig": "***",
        },
        "list": ["***"],
    }
    assert "fake-kubeconfig" not in repr(outputs) and "fake-kubeconfig" not in str(Secret("fake-kubeconfig"))
