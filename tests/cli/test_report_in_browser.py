"""Reports of a healthy and of a rolled-back cutover, as Chromium renders them: the facts are visible text.

"Without hovering": what a reader needs (the outcome and its reason, the
versions, when it started and ended and who ran it) must be text on the page,
above the charts, not a tooltip (``<title>``) and not only inside a chart.
Screenshots are taken at a desktop and a phone width.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_report import VisibleText, _chromium

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium to render the page")

TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?Z? ?(UTC)?"


@pytest.mark.parametrize(("fault", "code", "outcome"), [
    ((), 0, "DONE"),
    (("--fault", "analysis-fails-at=3"), 1, "ROLLED_BACK"),
])
def test_the_rendered_report_says_outcome_reason_versions_and_times_above_the_charts(
    fleet: Any, tmp_path: Path, fault: tuple[str, ...], code: int, outcome: str
) -> None:
    report = tmp_path / "cutover.html"
    result = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--report", str(report), *fault)
    assert result.code == code, result.err
    last = result.out.strip().splitlines()[-1]

    for width in (1400, 400):
        shot = tmp_path / f"{outcome}-{width}.png"
        _chromium(tmp_path, f"--window-size={width},2400", f"--screenshot={shot}", report.as_uri())
        assert shot.exists() and shot.stat().st_size > 10_000
    text = VisibleText.of(_chromium(tmp_path, "--dump-dom", report.as_uri()).stdout)

    top = text[: text.index("Phases")]  # what comes before the first chart
    assert f"of local: 1.29 \u2192 1.30, {outcome}" in top
    assert "rehearsal" in top
    if outcome == "ROLLED_BACK":
        assert f"Reason: {last.partition('ROLLED_BACK: ')[2]}" in top
    else:
        assert "Done: all traffic moved to the new slot" in top
    started = re.search(rf"started:? ({TIME})", top)
    ended = re.search(rf"ended:? ({TIME})", top)
    assert started and ended, top[:600]
    assert "run by" in top
