"""In a terminal (tmux), the live line of ``fleet rehearse staging`` moves every second through each window.

staging's windows are long enough here (3 s, judged by a real Prometheus) to
check the promise itself: during an analysis window the countdown and the
request count on the live line change at least once a second; nothing on
the screen looks hung.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.rehearsal.test_own_providers import MISSING

REPO = Path(__file__).resolve().parents[2]
WINDOW = re.compile(r"analysis window ([\d.]+)s/[\d.]+s, [\d.]+s left · (\d+) req")


@pytest.mark.skipif(shutil.which("tmux") is None or bool(MISSING), reason=f"needs tmux, {', '.join(MISSING)}")
def test_the_countdown_and_the_counts_move_every_second_in_tmux(tmp_path: Path) -> None:
    session = f"fleet-test-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "AWS_")) and k != "CI"}
    command = (f"cd {tmp_path} && FLEET_PROJECT={REPO} {sys.executable} -m fleet rehearse staging "
               f"--state {tmp_path / 's'}; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "220", "-y", "50", command],
                   check=True, env=env)
    samples: list[tuple[float, str, str]] = []
    done = False
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not done:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True, check=False).stdout
            done = "staging: DONE" in screen
            for line in screen.splitlines():
                if m := WINDOW.search(line):
                    samples.append((time.monotonic(), m.group(1), m.group(2)))
            time.sleep(0.2)
    finally:
        if not done:  # Ctrl-C: the rehearsal stops what it started
            subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=False)
            time.sleep(5)
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)

    assert done, samples[-5:]
    assert len(samples) >= 20, samples
    for which in (1, 2):  # the countdown, then the requests so far
        still = 0.0
        for (t0, *a), (t1, *b) in itertools.pairwise(samples):
            if t1 - t0 > 0.6:  # between windows
                still = 0.0
                continue
            still = still + (t1 - t0) if a[which - 1] == b[which - 1] else 0.0
            assert still <= 1.1, (which, a, b, still)
