"""Maintenance windows: when an environment may be changed, in its own time zone.

A window opens at a local wall-clock time on the listed weekdays of an IANA zone and
lasts a duration of real time (``4h`` is four hours even on the night clocks change).
A start time that does not exist that day (02:30 on a spring-forward night in
Europe/Berlin) opens when the clocks say it would have without the change (03:30 local,
the same instant); a start that exists twice (the autumn night) opens at the first.

Times are epoch seconds, as every event of the machine carries them; nothing here
reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    days: frozenset[int]
    """Weekdays the window opens on, Monday 0."""
    start: time
    duration_s: float
    zone: str

    @classmethod
    def parse(cls, days: Sequence[str], start: str, duration_s: float, zone: str) -> Window:
        """``["sat", "sun"]``, ``"02:00"``, seconds, ``"Europe/Berlin"``; ValueError naming the problem."""
        picked: set[int] = set()
        for day in days:
            name = str(day).strip().lower()[:3]
            if name not in DAYS:
                raise ValueError(f"{day!r} is not a weekday (mon..sun)")
            picked.add(DAYS.index(name))
        if not picked:
            raise ValueError("no days given")
        try:
            hour, minute = (int(part) for part in str(start).split(":"))
            opens = time(hour, minute)
        except ValueError as err:
            raise ValueError(f"{start!r} is not a time of day (HH:MM)") from err
        if not 0 < duration_s <= 7 * 86400:
            raise ValueError("the duration must be longer than 0 and at most 7 days")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"{zone!r} is not an IANA time zone (e.g. Europe/Berlin)") from err
        return cls(frozenset(picked), opens, float(duration_s), zone)

    def openings(self, around: float, *, days_before: int = 8, days_after: int = 8) -> list[tuple[float, float]]:
        """Every (start, end) of this window whose local start day lies within the given days of ``around``."""
        tz = ZoneInfo(self.zone)
        local_day = datetime.fromtimestamp(around, tz).date()
        found = []
        for offset in range(-days_before, days_after + 1):
            day = local_day + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            start = datetime.combine(day, self.start, tzinfo=tz).timestamp()
            found.append((start, start + self.duration_s))
        return found

    def describe(self) -> str:
        days = ",".join(DAYS[d] for d in sorted(self.days))
        hours = self.duration_s / 3600
        return f"{days} {self.start:%H:%M} {self.zone} for {hours:g}h"


@dataclass(frozen=True)
class Opening:
    start: float
    end: float
    window: Window

    def local(self) -> str:
        """The opening in the window's own zone and in UTC, for messages."""
        tz = ZoneInfo(self.window.zone)
        here = datetime.fromtimestamp(self.start, tz)
        utc = datetime.fromtimestamp(self.start, UTC)
        return f"{here:%a %Y-%m-%d %H:%M %Z} ({utc:%Y-%m-%d %H:%M} UTC) until " + \
            f"{datetime.fromtimestamp(self.end, tz):%a %H:%M %Z}"


def current_opening(windows: Sequence[Window], at: float) -> Opening | None:
    """The opening that contains ``at`` and ends last (windows may overlap), or None."""
    found = [Opening(s, e, w) for w in windows for s, e in w.openings(at) if s <= at < e]
    return max(found, key=lambda o: o.end) if found else None


def next_opening(windows: Sequence[Window], at: float) -> Opening | None:
    """The first opening that starts after ``at``; None without windows."""
    found = [Opening(s, e, w) for w in windows for s, e in w.openings(at, days_before=0, days_after=15) if s > at]
    return min(found, key=lambda o: o.start) if found else None
