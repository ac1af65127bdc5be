"""Every documented ``fleet:analysis`` key is honoured or refused: a 25 s window is a 25 s window."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.adapters.analysis import analysis_from_settings
from fleet.adapters.analysis.prometheus import PrometheusAnalysis
from fleet.config import load_environment, validate_environment

REPO = Path(__file__).resolve().parents[2]
QUERIES = {"requests": 'r{s="{slot}"}', "errors": 'e{s="{slot}"}'}


def project_with(tmp_path: Path, analysis: str, rollout: str = "    stepBake: 60s\n") -> Path:
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
    text = (REPO / "stacks" / "Pulumi.local.yaml").read_text()
    text = text.replace("    minRequests: 50\n", "    minRequests: 50\n" + analysis)
    text = text.replace("    stepBake: 60s\n", rollout)
    (project / "stacks" / "Pulumi.local.yaml").write_text(text)
    return project


def test_the_analysis_window_sets_how_long_each_step_is_analysed(tmp_path: Path) -> None:
    config = load_environment(project_with(tmp_path, "    window: 25s\n", rollout=""), "local")
    assert config.rollout.analysis.window_s == 25.0


def test_step_bake_alone_still_sets_it_and_the_same_value_twice_is_fine(tmp_path: Path) -> None:
    assert load_environment(project_with(tmp_path, ""), "local").rollout.analysis.window_s == 60.0
    again = project_with(tmp_path / "again", "    window: 1m\n")
    assert load_environment(again, "local").rollout.analysis.window_s == 60.0


@pytest.mark.parametrize(
    ("analysis", "rollout", "key"),
    [
        ("    window: 25s\n", "    stepBake: 60s\n", "fleet:rollout.stepBake"),
        ("    window: 0s\n", "", "fleet:analysis.window"),
        ("    window: soon\n", "", "fleet:analysis.window"),
    ],
)
def test_a_window_that_cannot_be_honoured_is_refused(tmp_path: Path, analysis: str, rollout: str, key: str) -> None:
    problems = validate_environment(project_with(tmp_path, analysis, rollout=rollout), "local")
    assert [p.key for p in problems] == [key]


def test_prometheus_timing_settings_are_read() -> None:
    source = analysis_from_settings(
        "prod",
        {"source": "prometheus", "url": "http://127.0.0.1:9", "queries": QUERIES,
         "scrapeInterval": "15s", "minRange": "30s", "window": "25s"},
        file="f",
    )
    assert isinstance(source, PrometheusAnalysis)
    assert (source.scrape_interval_s, source.min_range_s) == (15.0, 30.0)
    timing = source.scrape_timing()
    assert timing.interval_s == 15.0 and timing.origin == "setting scrapeInterval"
