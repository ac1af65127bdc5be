"""``--report``: a self-contained page that explains the cutover without hovering."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fleet.rehearsal.real import missing_parts
from fleet.report import success_floor


class VisibleText(HTMLParser):
    """The text a reader sees: everything but <title> (tooltips and the tab's name), <style> and <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("title", "style", "script"):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "style", "script"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)

    @classmethod
    def of(cls, page: str) -> str:
        parser = cls()
        parser.feed(page)
        return " ".join(" ".join(parser.parts).split())


def rolled_back(fleet: Any, tmp_path: Path, *extra: str) -> tuple[str, str]:
    report = tmp_path / "cutover.html"
    result = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"),
                   "--fault", "analysis-fails-at=3", "--report", str(report), *extra)
    assert result.code == 1, result.err
    reason = result.out.strip().splitlines()[-1].partition("ROLLED_BACK: ")[2]
    assert reason
    return report.read_text(), reason


def test_the_report_is_one_self_contained_page_that_says_what_happened_and_why(fleet: Any, tmp_path: Path) -> None:
    page, reason = rolled_back(fleet, tmp_path)

    assert "<script" not in page
    assert not re.search(r"(src|href)=['\"]?https?:", page)
    text = VisibleText.of(page)
    assert "fleet rehearsal (in memory, simulated clock) of local: 1.29 \u2192 1.30, ROLLED_BACK" in text
    assert f"Reason: {reason}" in text
    assert text.index("Reason:") < text.index("Phases")  # the outcome comes first
    for fact in ("started", "ended", "run by", "UTC", "success rate \u2265 99%, p99 \u2264 500 ms"):
        assert fact in text
    for phase in ("PROVISION", "BOOTSTRAP", "WAIT_HEALTHY", "VERIFY_PARITY", "SHIFT", "ROLLING_BACK", "ROLLED_BACK"):
        assert phase in text
    assert "threshold 99%" in text and "threshold 500 ms" in text
    assert text.count("FAIL") >= 2 and "PASS" in text  # a row per analysis window, with its verdict


def test_every_chart_fills_the_width_in_two_layouts_and_the_phase_labels_do_not_overlap(
    fleet: Any, tmp_path: Path
) -> None:
    page, _ = rolled_back(fleet, tmp_path)

    charts = re.findall(r"<svg class='chart (wide|narrow)'[^>]*viewBox='0 0 (\d+) (\d+)'[^>]*width='100%'", page)
    assert [kind for kind, _, _ in charts] == ["wide", "narrow"] * 4
    for svg in re.findall(r"<svg class='chart (?:wide|narrow)'.*?</svg>", page)[:2]:  # the phase lanes
        labels = re.findall(r"<text x='[\d.]+' y='([\d.]+)' class=axis text-anchor=end>([A-Z_]+)</text>", svg)
        heights = [float(y) for y, _ in labels]
        assert len(set(heights)) == len(heights) == 7, labels  # one row each: no two labels share a line


def test_the_success_rate_axis_is_zoomed_so_that_98_5_is_visibly_below_99() -> None:
    floor = success_floor(99.0, None)
    assert floor >= 95
    assert (99.0 - 98.5) / (100.0 - floor) >= 0.1  # at least a tenth of the chart's height apart
    assert success_floor(99.0, 50.0) == floor  # a collapse is pinned to the bottom and labelled, not un-zoomed


def test_history_draws_the_same_report_for_a_recorded_cutover(fleet: Any, tmp_path: Path) -> None:
    assert fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s")).code == 0
    report = tmp_path / "history.html"

    result = fleet("history", "local", "--state", str(tmp_path / "s"), "--report", str(report))

    assert result.code == 0
    text = VisibleText.of(report.read_text())
    assert "1.29 \u2192 1.30, DONE" in text
    assert "Done: all traffic moved to the new slot" in text


@pytest.mark.skipif(bool(missing_parts()), reason="the real rehearsal needs haproxy and kmock")
def test_a_history_report_of_a_real_rehearsal_draws_all_users_requests(fleet: Any, tmp_path: Path) -> None:
    state = tmp_path / "s"
    assert fleet("rehearse", "local", "--state", str(state), "--fault", "green-errors=0.2").code == 1
    report = tmp_path / "history.html"

    assert fleet("history", "local", "--state", str(state), "--report", str(report)).code == 0

    page = report.read_text()
    assert "grey line: all users' requests" in VisibleText.of(page)
    assert "stroke='#718096'" in page  # the users' success-rate line
    assert "Failed requests users saw (" in page


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=90, check=False,
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium to render the page")
def test_the_report_renders_in_a_headless_browser_with_the_reason_in_visible_text(
    fleet: Any, tmp_path: Path
) -> None:
    _, reason = rolled_back(fleet, tmp_path)
    report = tmp_path / "cutover.html"

    for width in (1400, 400):
        shot = tmp_path / f"shot-{width}.png"
        _chromium(tmp_path, f"--window-size={width},2400", f"--screenshot={shot}", report.as_uri())
        assert shot.exists() and shot.stat().st_size > 10_000
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri()).stdout

    assert reason in VisibleText.of(dom)
