"""Load the holidays file (config/holidays.yaml): per year, the State Council's 放假 days and 调休
workdays, validated, for the years chinese-calendar does not know yet.

    2027:
      source: https://www.gov.cn/...            # the notice (国务院办公厅关于2027年部分节假日安排的通知)
      days_off:
        - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
        - {name: 清明节, date: 2027-04-05}
      workdays:
        - {name: 春节, date: 2027-02-06}          # a make-up Saturday or Sunday (调休上班)

A year listed with nothing under it (`2027: {}`) is one whose notice is not published yet: it
stays uncovered and the bot warns about it.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from escalation.calendar import Arrangement, Holidays

MAX_RANGE_DAYS = 15  # the longest statutory break is 8–9 days; a longer range is a typo
_YEAR_KEYS = {"source", "days_off", "workdays"}


class HolidayError(ValueError):
    """The holidays file is not valid: the message says where and why (Chinese / English)."""


def load_holidays(path: Path) -> Holidays:
    """The file's arrangements; a missing file is an empty one (the coverage check then warns)."""
    if not path.exists():
        return Holidays()
    try:
        return parse_holidays(path.read_text(encoding="utf-8"))
    except (OSError, HolidayError) as exc:
        raise HolidayError(f"{path}: {exc}") from exc


def parse_holidays(text: str) -> Holidays:
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: YAML reads 2027-13-01 as a date and fails
        raise HolidayError(f"YAML 格式错误或日期无效 / not valid YAML or not a real date: {exc}") from exc
    if data is None:
        return Holidays()
    if not isinstance(data, dict):
        raise HolidayError("文件应为“年份: 安排”的映射 / the file must map years to arrangements")
    years: dict[int, Arrangement] = {}
    for key, entry in data.items():
        year = _year(key)
        if year in years:
            raise HolidayError(f"{year} 年重复 / year {year} appears twice")
        years[year] = _arrangement(year, entry)
    return Holidays(years)


def _year(key: Any) -> int:
    if isinstance(key, bool) or not isinstance(key, int | str) or not str(key).isdigit():
        raise HolidayError(f"“{key}”不是年份 / {key!r} is not a year")
    year = int(key)
    if not 2000 <= year <= 2100:
        raise HolidayError(f"{year} 不是有效年份（2000–2100） / {year} is not a year between 2000 and 2100")
    return year


def _arrangement(year: int, entry: Any) -> Arrangement:
    if entry is None:
        return Arrangement(year)
    if not isinstance(entry, dict):
        raise HolidayError(
            f"{year}：应含 days_off / workdays / source / {year}: expected days_off, workdays and source"
        )
    if any(isinstance(k, bool) for k in entry):  # YAML reads a bare off/on/yes/no key as a boolean
        raise HolidayError(f"{year}：放假日请写 days_off（off 在 YAML 中是布尔值） / {year}: write days_off, not off")
    unknown = sorted(str(k) for k in entry if k not in _YEAR_KEYS)
    if unknown:
        raise HolidayError(f"{year}：未知字段 {', '.join(unknown)} / {year}: unknown keys {', '.join(unknown)}")
    off = _days(year, entry.get("days_off"), "days_off")
    workdays = _days(year, entry.get("workdays"), "workdays")
    both = sorted(set(off) & set(workdays))
    if both:
        raise HolidayError(f"{both[0]} 既是放假日又是调休上班日 / {both[0]} is both a day off and a workday")
    for day in workdays:
        if day.weekday() < 5:
            raise HolidayError(f"调休上班日 {day} 不是周六或周日 / make-up workday {day} is not a Saturday or Sunday")
    if workdays and not off:
        raise HolidayError(f"{year}：有调休上班日却没有放假日 / {year}: make-up workdays but no days off")
    return Arrangement(year, off, workdays, str(entry.get("source") or "").strip())


def _days(year: int, items: Any, what: str) -> dict[date, str]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise HolidayError(f"{year}.{what} 应为列表 / {year}.{what} must be a list")
    out: dict[date, str] = {}
    for item in items:
        name, days = _item(year, what, item)
        for day in days:
            if day.year != year:
                raise HolidayError(f"{day} 不在 {year} 年内 / {day} is not in {year}")
            if day in out:
                raise HolidayError(f"{day} 在 {what} 中重复 / {day} appears twice in {what}")
            out[day] = name
    return out


def _item(year: int, what: str, item: Any) -> tuple[str, list[date]]:
    """`{name, date}` or `{name, from, to}` → the name and its days."""
    if not isinstance(item, dict):
        raise HolidayError(f"{year}.{what}：每项应为 {{name, date}} 或 {{name, from, to}} / "
                           f"each item must be {{name, date}} or {{name, from, to}}: {item!r}")  # fmt: skip
    unknown = sorted(str(k) for k in item if k not in {"name", "date", "from", "to"})
    if unknown:
        raise HolidayError(f"{year}.{what}：未知字段 {', '.join(unknown)} / unknown keys {', '.join(unknown)}")
    name = str(item.get("name") or "").strip()
    if not name:
        raise HolidayError(f"{year}.{what}：缺少节日名称 name / an item has no name: {item!r}")
    if "date" in item:
        if "from" in item or "to" in item:
            raise HolidayError(f"{name}：date 与 from/to 只能二选一 / {name}: give date, or from and to")
        return name, [_date(item["date"], name)]
    if "from" not in item or "to" not in item:
        raise HolidayError(f"{name}：需要 date，或 from 和 to / {name}: needs date, or from and to")
    first, last = _date(item["from"], name), _date(item["to"], name)
    if last < first:
        raise HolidayError(f"{name}：结束日 {last} 早于开始日 {first} / {name}: {last} is before {first}")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise HolidayError(f"{name}：{first} 至 {last} 超过 {MAX_RANGE_DAYS} 天 / longer than {MAX_RANGE_DAYS} days")
    return name, [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _date(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise HolidayError(
            f"{name}：“{value}”不是日期（如 2027-01-01） / {value!r} is not a date like 2027-01-01"
        ) from exc
