"""Maintenance windows across time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleet.domain.windows import Window, current_opening, next_opening


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")


BERLIN = Window.parse(["sat", "sun"], "02:00", 4 * 3600, "Europe/Berlin")
NEW_YORK = Window.parse(["tue"], "22:00", 3 * 3600, "America/New_York")


def test_open_inside_and_closed_outside_in_the_windows_zone() -> None:
    # Saturday 2026-01-10 02:00 in Berlin (winter, UTC+1) is 01:00 UTC.
    inside = current_opening([BERLIN], ts("2026-01-10T03:30"))
    assert inside is not None and utc(inside.start) == "2026-01-10 01:00" and utc(inside.end) == "2026-01-10 05:00"
    assert current_opening([BERLIN], ts("2026-01-10T05:00")) is None  # the end is exclusive
    assert current_opening([BERLIN], ts("2026-01-09T01:30")) is None  # a Friday


def test_next_window_is_the_next_opening_after_now() -> None:
    nxt = next_opening([BERLIN], ts("2026-01-12T09:00"))  # a Monday
    assert nxt is not None and utc(nxt.start) == "2026-01-17 01:00"
    assert "Sat 2026-01-17 02:00 CET" in nxt.local()


def test_a_window_that_crosses_midnight_counts_from_the_day_it_opened() -> None:
    # Tuesday 22:00 in New York (EST, UTC-5) is Wednesday 03:00 UTC; it lasts until 06:00 UTC.
    assert current_opening([NEW_YORK], ts("2026-01-14T05:59")) is not None  # Wednesday in both zones
    assert current_opening([NEW_YORK], ts("2026-01-14T06:00")) is None


def test_the_same_local_start_moves_in_utc_across_the_spring_change() -> None:
    # Europe moves to summer time on Sunday 2026-03-29 at 02:00 local.
    before = current_opening([BERLIN], ts("2026-03-28T01:30"))  # Saturday, still CET
    assert before is not None and utc(before.start) == "2026-03-28 01:00"
    # 02:00 does not exist on the Sunday: the window opens at 03:00 CEST, i.e. 01:00 UTC, and lasts 4 real hours.
    sunday = current_opening([BERLIN], ts("2026-03-29T01:30"))
    assert sunday is not None and utc(sunday.start) == "2026-03-29 01:00" and utc(sunday.end) == "2026-03-29 05:00"
    after = next_opening([BERLIN], ts("2026-03-29T06:00"))
    assert after is not None and utc(after.start) == "2026-04-04 00:00"  # 02:00 CEST


def test_autumn_change_opens_at_the_first_of_the_two_0130s() -> None:
    # The US leaves summer time on Sunday 2026-11-01 at 02:00 EDT: 01:30 happens twice.
    early = Window.parse(["sun"], "01:30", 3600, "America/New_York")
    opening = next_opening([early], ts("2026-10-31T12:00"))
    assert opening is not None and utc(opening.start) == "2026-11-01 05:30"  # 01:30 EDT (UTC-4)
    assert opening.end - opening.start == 3600


def test_the_same_instant_is_inside_one_zones_window_and_outside_anothers() -> None:
    at = ts("2026-01-13T04:00")  # Tuesday 05:00 in Berlin, Monday 23:00 in New York
    tokyo = Window.parse(["tue"], "12:00", 2 * 3600, "Asia/Tokyo")  # 03:00-05:00 UTC
    assert current_opening([tokyo], at) is not None
    assert current_opening([NEW_YORK], at) is None
    assert current_opening([BERLIN, tokyo], at) is not None


@pytest.mark.parametrize(("days", "start", "zone", "problem"), [
    (["someday"], "02:00", "UTC", "weekday"),
    (["sat"], "2am", "UTC", "time of day"),
    (["sat"], "02:00", "Mars/Olympus", "IANA"),
    ([], "02:00", "UTC", "no days"),
])
def test_bad_windows_are_refused_with_the_reason(days: list[str], start: str, zone: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Window.parse(days, start, 3600, zone)
