"""Working calendar: quiet hours and working time, with Chinese statutory holidays and make-up
workdays (调休) from `chinese-calendar`. Pure functions of their arguments (no clock, no I/O).

- `after(start, seconds)`: the instant `seconds` of *counted* time after `start`: calendar time,
  or, with working hours, only the hours of workdays (a Friday-evening case resumes on Monday,
  a National Day holiday is skipped, a make-up Saturday counts).
- `fire_at(at)`: when a step due at `at` may ping people: inside quiet hours it waits for their end.

Urgent cases use neither: they run 24/7.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

LOCAL = ZoneInfo("Asia/Shanghai")  # all of China keeps one time zone
MAX_DAYS = 3660  # a counted duration never spans more than ~10 years of days (bounded loop)


@lru_cache(maxsize=8192)  # a pure function of the date; chinese_calendar's validation was ~2 % of a report's CPU
def is_workday(day: date) -> bool:
    """Statutory holidays are off, make-up days (调休) are on; years the data does not cover yet
    fall back to Monday–Friday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def _at(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(0), LOCAL) + timedelta(minutes=minute)


@dataclass(frozen=True)
class WorkCalendar:
    """`quiet` and `working` are (start, end) minutes after local midnight; None = not used."""

    quiet: tuple[int, int] | None = None
    working: tuple[int, int] | None = None

    def after(self, start: datetime, seconds: float) -> datetime:
        if self.working is None or seconds <= 0:
            return start + timedelta(seconds=seconds)
        open_min, close_min = self.working
        t = start.astimezone(LOCAL)
        remaining = seconds
        for _ in range(MAX_DAYS):
            day = t.date()
            opens, closes = _at(day, open_min), _at(day, close_min)
            if is_workday(day) and t < closes:
                begin = max(t, opens)
                available = (closes - begin).total_seconds()
                if remaining <= available:
                    return (begin + timedelta(seconds=remaining)).astimezone(UTC)
                remaining -= available
            t = _at(day + timedelta(days=1), 0)
        raise ValueError(f"{seconds} s of working time do not fit in {MAX_DAYS} days")

    def fire_at(self, at: datetime) -> datetime:
        if self.quiet is None:
            return at
        start, end = self.quiet
        local = at.astimezone(LOCAL)
        minute = local.hour * 60 + local.minute + local.second / 60
        day = local.date()
        if start > end:  # overnight, e.g. 21:00-07:30
            if minute >= start:
                return _at(day + timedelta(days=1), end).astimezone(UTC)
            if minute < end:
                return _at(day, end).astimezone(UTC)
            return at
        if start <= minute < end:
            return _at(day, end).astimezone(UTC)
        return at


ROUND_THE_CLOCK = WorkCalendar()
