"""The README's two set-up commands are the ones CI runs, word for word."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_the_readme_has_exactly_two_set_up_commands() -> None:
    commands = readme_commands()

    assert len(commands) == 2
    assert "fleet rehearse local" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_commands_as_written() -> None:
    ci = (REPO / ".ci" / "run").read_text()

    for command in readme_commands():
        assert f'"{command}"' in ci
