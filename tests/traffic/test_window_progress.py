"""An analysis window tells how far it has got, reading by reading, for the live display; the verdict is unchanged."""

from __future__ import annotations

from fleet.adapters.analysis.haproxy import HAProxyAnalysis
from fleet.adapters.analysis.window import Reading, WindowProgress, attach_progress, judge_window
from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Outcome
from fleet.rehearsal.sim import FakeClock, RecordingNotifier

POLICY = AnalysisPolicy(success_rate=99.0, p99_latency_ms=500.0, window_s=10.0, min_requests=100)


def read(elapsed: float) -> Reading:
    requests = int(100 * elapsed)
    return Reading(requests, 0, 10.0, 40.0)


def test_every_reading_is_reported_with_the_counts_so_far_and_the_window_length() -> None:
    seen: list[WindowProgress] = []

    heard = judge_window(POLICY, read, source="test", interval_s=1.0, clock=FakeClock(start=0.0), progress=seen.append)
    silent = judge_window(POLICY, read, source="test", interval_s=1.0, clock=FakeClock(start=0.0))

    assert heard == silent and heard.outcome is Outcome.PASS
    assert len(seen) == 11  # at 0, 1, ..., 10 s
    assert [p.requests for p in seen] == [int(100 * p.elapsed_s) for p in seen]
    assert all(p.window_s == 10.0 and p.p99_ms == 40.0 for p in seen)
    assert seen[-1].elapsed_s >= 10.0


def test_a_source_wired_to_a_notifier_sends_analysis_notices_with_numbers() -> None:
    source = HAProxyAnalysis("127.0.0.1:1")
    notifier = RecordingNotifier()
    attach_progress(source, notifier, "prod")
    assert source.progress is not None

    source.progress(WindowProgress(2.5, 60.0, 120, 1, None, 80.0))

    notice = notifier.notices[-1]
    assert (notice.env, notice.kind) == ("prod", "analysis")
    assert notice.detail == {"window": {"elapsed_s": 2.5, "window_s": 60.0, "requests": 120, "errors": 1,
                                        "p50_ms": None, "p99_ms": 80.0}}
