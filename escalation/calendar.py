"""Working calendar: quiet hours and working time, with Chinese statutory holidays and make-up
workdays (调休) from `chinese-calendar`, merged day by day with the arrangements admins load from
the holidays file (config/holidays.yaml) for years the library does not know yet. Pure functions
of their arguments (no clock, no I/O).

- `after(start, seconds)`: the instant `seconds` of *counted* time after `start`: calendar time,
  or, with working hours, only the hours of workdays (a Friday-evening case resumes on Monday,
  a National Day holiday is skipped, a make-up Saturday counts).
- `fire_at(at)`: when a step due at `at` may ping people: inside quiet hours it waits for their end.

Urgent cases use neither: they run 24/7.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar

from tickets.model import LOCAL as LOCAL  # re-exported: the calendar is where callers look for it

MAX_DAYS = 3660  # a counted duration never spans more than ~10 years of days (bounded loop)
LOOKAHEAD_DAYS = 60  # how far ahead the calendar must know the arrangement (the coverage warning)


@dataclass(frozen=True)
class Arrangement:
    """One year's arrangement as the State Council's notice sets it: 放假 days and 调休 workdays,
    each with its holiday's name; `source` is the notice it comes from."""

    year: int
    off: Mapping[date, str] = field(default_factory=dict)
    workdays: Mapping[date, str] = field(default_factory=dict)
    source: str = ""

    @property
    def published(self) -> bool:
        """A year with no 放假 day is one whose notice is not out yet (every year has 元旦 and 春节)."""
        return bool(self.off)


@dataclass(frozen=True)
class Holidays:
    """The holidays file: arrangements per year, merged over chinese-calendar day by day."""

    years: Mapping[int, Arrangement] = field(default_factory=dict)

    def day(self, day: date) -> bool | None:
        """True/False when the file says the day is a workday / a day off, None when it is silent."""
        arrangement = self.years.get(day.year)
        if arrangement is None:
            return None
        if day in arrangement.workdays:
            return True
        return False if day in arrangement.off else None

    def published(self, year: int) -> bool:
        arrangement = self.years.get(year)
        return arrangement is not None and arrangement.published


class _Loaded:
    """The holidays file in force. The statutory calendar is process-wide reference data, like the
    time zone database: the composition root loads it at start-up and the admin page replaces it;
    everything else only reads it through `is_workday`."""

    holidays = Holidays()


def use_holidays(holidays: Holidays) -> None:
    _Loaded.holidays = holidays
    is_workday.cache_clear()


def loaded_holidays() -> Holidays:
    return _Loaded.holidays


@lru_cache(maxsize=64)
def library_covers(year: int) -> bool:
    """Whether chinese-calendar knows `year`'s arrangement (1.11.0: up to 2026)."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
        return True
    except NotImplementedError:
        return False


@lru_cache(maxsize=8192)  # a pure function of the date; chinese_calendar's validation was ~2 % of a report's CPU
def is_workday(day: date) -> bool:
    """Statutory holidays are off, make-up days (调休) are on: the holidays file first, then
    chinese-calendar; years neither covers fall back to Monday–Friday (and `uncovered` says so)."""
    from_file = _Loaded.holidays.day(day)
    if from_file is not None:
        return from_file
    if library_covers(day.year):
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


def covered(year: int, holidays: Holidays | None = None) -> bool:
    """A year is covered when chinese-calendar or the holidays file has its published arrangement."""
    return library_covers(year) or (holidays or _Loaded.holidays).published(year)


def uncovered(today: date, days: int = LOOKAHEAD_DAYS, holidays: Holidays | None = None) -> list[date]:
    """The days among the next `days` (from `today`) whose year has no known arrangement: there,
    deadlines, nags and quiet hours would run through 元旦 and 春节 as if they were ordinary days."""
    span = [today + timedelta(days=i) for i in range(days)]
    return [d for d in span if not covered(d.year, holidays)]


def coverage_warning(today: date, days: int = LOOKAHEAD_DAYS, holidays: Holidays | None = None) -> str | None:
    """The warning for admins (Chinese and English), or None when the next `days` are covered."""
    gap = uncovered(today, days, holidays)
    if not gap:
        return None
    years = "、".join(str(y) for y in sorted({d.year for d in gap}))
    return (f"节假日安排缺失：{years} 年的放假调休安排尚未载入（未来 {days} 天中 {len(gap)} 天，自 {gap[0]} 起），"
            f"这些日子按普通工作日计算（按工作时间计时的期限、催办会落在节假日）。请在“节假日”页面载入国务院办公厅的通知。"
            f" / Holiday arrangement missing for {years}: {len(gap)} of the next {days} days from {gap[0]} "
            f"count as ordinary weekdays; load the State Council's notice on the admin holidays page.")  # fmt: skip


def _at(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(0), LOCAL) + timedelta(minutes=minute)


def add_workdays(start: datetime, days: int) -> datetime:
    """The same local time `days` workdays (法定工作日, make-up days on, holidays off) after `start`."""
    local = start.astimezone(LOCAL)
    day = local.date()
    for _ in range(MAX_DAYS):
        if days <= 0:
            break
        day += timedelta(days=1)
        days -= is_workday(day)
    return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)


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
