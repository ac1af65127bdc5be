"""The live display: it never looks hung, and a pipeline's log reads as plain, whole lines."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from fleet.cli.progress import Progress
from fleet.config import load_environment
from fleet.domain.machine import EnvironmentState, Phase
from fleet.ports import Notice
from fleet.rehearsal.inmemory import parse_faults, rehearse
from fleet.rehearsal.real import missing_parts

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[")


class Recorder:
    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)


def recorded(tmp_path: Path, *faults: str) -> list[Notice]:
    """The notices the engine gives the CLI during an in-memory rehearsal of ``local``."""
    recorder = Recorder()
    rehearse(load_environment(REPO, "local"), str(tmp_path / "s"), parse_faults(faults), recorder)
    return recorder.notices


def state_of(notice: Notice) -> EnvironmentState:
    state = (notice.detail or {}).get("state")
    assert isinstance(state, EnvironmentState)
    return state


def test_plain_lines_carry_a_timestamp_each_window_and_the_whole_reason_unwrapped(tmp_path: Path) -> None:
    notices = recorded(tmp_path, "analysis-fails-at=2")
    long_reason = "analysis failed 2 times at step 2/4 (25%): " + "the error rate is far above the threshold; " * 5
    last = notices[-1]
    state = state_of(last)
    assert state.cutover is not None and state.cutover.phase is Phase.ROLLED_BACK
    notices[-1] = replace(last, detail={**(last.detail or {}),
                                        "state": replace(state, cutover=replace(state.cutover, reason=long_reason))})
    out = io.StringIO()
    progress = Progress(out, live=False)

    for notice in notices:
        progress.notify(notice)
    progress.close()

    lines = out.getvalue().splitlines()
    assert not ANSI.search(out.getvalue())
    assert all(re.match(r"\d\d:\d\d:\d\dZ \+", line) for line in lines), lines
    windows = [line for line in lines if "analysis of green" in line]
    assert len(windows) == 3  # step 1 passed, step 2 failed twice: each window on a line of its own
    assert sum("FAIL" in line for line in windows) == 2
    assert any(line.endswith(f"reason: {long_reason}") for line in lines)  # one line, however long
    assert progress.changed


def test_the_live_line_shows_the_wait_with_its_countdown_and_the_window_so_far(tmp_path: Path) -> None:
    notices = recorded(tmp_path)
    shift = next(n for n in notices if state_of(n).cutover is not None and n.detail and
                 getattr(n.detail.get("record"), "event", "") == "WeightsApplied"
                 and state_of(n).cutover.phase is Phase.SHIFT)  # type: ignore[union-attr]
    progress = Progress(io.StringIO(), live=False)
    progress.notify(shift)
    progress.notify(Notice("local", "analysis", "analysis window", None,
                           {"window": {"elapsed_s": 12.0, "window_s": 60.0, "requests": 480, "errors": 7,
                                       "p50_ms": 20.0, "p99_ms": 140.0}}))

    line = progress.line()
    progress.close()

    assert "SHIFT 1/4 (10%)" in line and "blue 90 / green 10" in line
    assert "analysis window 12.0s/1:00, 48.0s left" in line
    assert "480 req 7 err 98.54% ok p99 140 ms" in line
    assert "failing: 98.54% < 99%" in line


def test_a_long_wait_gets_a_plain_progress_line_every_heartbeat(tmp_path: Path) -> None:
    notices = recorded(tmp_path)
    bake = next(n for n in notices if n.kind == "phase" and n.phase == "BAKE")
    out = io.StringIO()
    progress = Progress(out, live=False, heartbeat_s=0.3)

    progress.notify(bake)
    time.sleep(1.6)
    progress.close()

    beats = [line for line in out.getvalue().splitlines() if "teardown bake" in line]
    assert len(beats) >= 2, out.getvalue()
    assert all("left" in line for line in beats)
    assert beats[0] != beats[-1]  # the countdown moved


def test_on_a_terminal_the_live_region_redraws_by_itself(tmp_path: Path) -> None:
    notices = recorded(tmp_path)
    bake = next(n for n in notices if n.kind == "phase" and n.phase == "BAKE")
    out = io.StringIO()
    progress = Progress(out, live=True, refresh_per_second=10)

    progress.notify(bake)
    time.sleep(1.2)
    progress.close()

    shown = set(re.findall(r"teardown bake ([\d.:s]+)/", out.getvalue()))
    assert len(shown) >= 3, out.getvalue()[-500:]  # at least once a second, with nothing happening


def test_ci_gets_plain_lines_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("CI", "true")
    assert Progress(Terminal()).live is False
    monkeypatch.delenv("CI")
    assert Progress(Terminal()).live is True


def test_fleet_help_imports_no_rich() -> None:
    code = (
        "import sys\nfrom fleet.cli import cli\n"
        "try:\n    cli.main(['--help'], prog_name='fleet')\nexcept SystemExit:\n    pass\n"
        "print('RICH', sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert "RICH []" in out


@pytest.mark.skipif(shutil.which("tmux") is None or bool(missing_parts()), reason="needs tmux and haproxy")
def test_a_rehearsal_in_tmux_shows_the_countdown_and_counts_moving(tmp_path: Path) -> None:
    session = f"fleet-test-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_") and k != "CI"}
    command = (f"cd {tmp_path} && FLEET_PROJECT={REPO} {sys.executable} -m fleet rehearse local "
               f"--state {tmp_path / 's'}; sleep 20")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50", command],
                   check=True, env=env)
    screens: list[str] = []
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True, check=False).stdout
            screens.append(screen)
            if "local: DONE" in screen:
                break
            time.sleep(0.25)
    finally:
        if not any("local: DONE" in screen for screen in screens):  # Ctrl-C: the rehearsal stops what it started
            subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=False)
            time.sleep(5)
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)

    live = [line for screen in screens for line in screen.splitlines() if "analysis window" in line]
    countdowns = {m.group(1) for line in live if (m := re.search(r"analysis window ([\d.]+)s/", line))}
    counts = {m.group(1) for line in live if (m := re.search(r"(\d+) req \d+ err", line))}
    assert len(countdowns) >= 3, live
    assert len(counts) >= 2, live
    assert any("local: DONE" in screen for screen in screens)
