"""What the load generator saw during a rehearsal on real parts: per span, in bins, and in total."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fleet.domain.model import SlotName
from fleet.ports import Record

if TYPE_CHECKING:
    from fleet.rehearsal.real import RealRun


def observed(run: RealRun) -> Callable[[float, float | None], dict[str, Any]]:
    """For a span of wall time: the users' requests, their success rate and the split they saw (numbers)."""
    from fleet.rehearsal.load import in_range, observed_split

    records = run.requests

    def view(start: float, end: float | None) -> dict[str, Any]:
        lo = start - run.clock_offset
        hi = None if end is None else end - run.clock_offset
        span = in_range(records, lo, hi)
        if not span:
            return {"requests": 0, "failed": 0, "success_rate": None, "split": None}
        failed = sum(r.failed for r in span)
        return {
            "requests": len(span),
            "failed": failed,
            "success_rate": round(100 * (len(span) - failed) / len(span), 3),
            "split": {k: round(v, 1) for k, v in observed_split(span).items()},
        }

    return view


def samples(run: RealRun, bin_s: float = 0.25) -> list[Any]:
    """The load generator's requests in bins: green's share of answers and the success rate, over time."""
    from fleet.report import Sample

    if not run.requests:
        return []
    first = run.requests[0].at
    bins: dict[int, list[Any]] = {}
    for r in run.requests:
        bins.setdefault(int((r.at - first) // bin_s), []).append(r)
    out = []
    for index in sorted(bins):
        chunk = bins[index]
        answered = [r for r in chunk if r.slot is not None]
        green = sum(r.slot == "green" for r in answered) / len(answered) if answered else 0.0
        ok = 100.0 * sum(not r.failed for r in chunk) / len(chunk)
        out.append(Sample(at=first + (index + 0.5) * bin_s + run.clock_offset, green_share=green, success_rate=ok))
    return out


def traffic_summary(run: RealRun, records: Sequence[Record]) -> dict[str, Any]:
    """Totals of the load, and the split of the requests sent after the cutover's last event."""
    from fleet.rehearsal.load import failures, in_range, observed_split, summarise

    stats = summarise(run.requests)
    end = records[-1].at - run.clock_offset if records else None
    after = in_range(run.requests, end) if end is not None else []
    return {
        "requests": int(stats["requests"]),
        "failed": int(stats["failed"]),
        "rate_rps": round(stats["rate"], 1),
        "failed_by_slot": {
            slot.value: sum(1 for r in failures(run.requests) if r.slot == slot.value) for slot in SlotName
        },
        "after_end": {"requests": len(after), "split": {k: round(v, 1) for k, v in observed_split(after).items()}},
    }
