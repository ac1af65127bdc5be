"""``--report``: a self-contained picture of the cutover."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest


def test_the_report_is_one_self_contained_page_with_phases_weights_and_the_rollback(fleet: Any, tmp_path: Path) -> None:
    report = tmp_path / "cutover.html"

    result = fleet(
        "rehearse",
        "local",
        "--simulated",
        "--state",
        str(tmp_path / "s"),
        "--fault",
        "analysis-fails-at=3",
        "--report",
        str(report),
    )

    assert result.code == 1
    page = report.read_text()
    assert "<script" not in page
    assert not re.search(r"(src|href)=['\"]?https?:", page)
    assert page.count("<svg") == 2
    for phase in ("PROVISION", "SHIFT", "ROLLING_BACK"):
        assert phase in page
    assert "rollback" in page
    assert "ROLLED_BACK" in page


def test_history_draws_the_same_report_for_a_recorded_cutover(fleet: Any, tmp_path: Path) -> None:
    assert fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s")).code == 0
    report = tmp_path / "history.html"

    result = fleet("history", "local", "--state", str(tmp_path / "s"), "--report", str(report))

    assert result.code == 0
    assert "DONE" in report.read_text()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium to render the page")
def test_the_report_renders_in_a_headless_browser(fleet: Any, tmp_path: Path) -> None:
    report = tmp_path / "cutover.html"
    assert fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--report", str(report)).code == 0
    shot = tmp_path / "shot.png"

    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,800",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert shot.exists() and shot.stat().st_size > 10_000
