"""Period names of the read model (``metrics.periods_of``): day ``2026-11-23``, ISO week
``2026-W48``, month ``2026-11``. Stepping, ranges, and where a period ends. Pure."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.common.errors import ValidationError

DAY, WEEK, MONTH = "day", "week", "month"
_FORMS = {DAY: re.compile(r"\d{4}-\d{2}-\d{2}"), WEEK: re.compile(r"\d{4}-W\d{2}"),
          MONTH: re.compile(r"\d{4}-\d{2}")}


def kind_of(period: str) -> str | None:
    for kind, form in _FORMS.items():
        if form.fullmatch(period or ""):
            return kind
    return None


def parse(period, field: str = "period", kinds=(DAY, WEEK, MONTH)) -> str:
    """``period`` checked to be a real day, ISO week or month; ValidationError naming ``field``."""
    text = str(period or "")
    kind = kind_of(text)
    try:
        if kind in kinds:
            first_day(text)
            return text
    except ValueError:
        pass
    names = {DAY: "YYYY-MM-DD", WEEK: "YYYY-Www", MONTH: "YYYY-MM"}
    raise ValidationError(f"{field} must be " + " or ".join(names[k] for k in kinds),
                          code="invalid_value", field=field)


def first_day(period: str) -> date:
    kind = kind_of(period)
    if kind == DAY:
        return date.fromisoformat(period)
    if kind == WEEK:
        return date.fromisocalendar(int(period[:4]), int(period[6:]), 1)
    if kind == MONTH:
        return date(int(period[:4]), int(period[5:7]), 1)
    raise ValueError(f"not a period: {period!r}")


def name(day: date, kind: str) -> str:
    if kind == DAY:
        return day.isoformat()
    if kind == WEEK:
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def shift(period: str, steps: int) -> str:
    """The period ``steps`` later (negative: earlier) of the same kind."""
    kind, start = kind_of(period), first_day(period)
    if kind == DAY:
        return name(start + timedelta(days=steps), DAY)
    if kind == WEEK:
        return name(start + timedelta(weeks=steps), WEEK)
    months = start.year * 12 + start.month - 1 + steps
    return name(date(months // 12, months % 12 + 1, 1), MONTH)


def year_before(period: str) -> str:
    """The same day, ISO week or month a year earlier (week 53 falls back to week 52)."""
    kind = kind_of(period)
    if kind == MONTH:
        return shift(period, -12)
    if kind == WEEK:
        year, week = int(period[:4]) - 1, int(period[6:])
        weeks = date(year, 12, 28).isocalendar()[1]
        return f"{year:04d}-W{min(week, weeks):02d}"
    day = first_day(period)
    try:
        return name(day.replace(year=day.year - 1), DAY)
    except ValueError:  # 29 February
        return name(day.replace(year=day.year - 1, day=28), DAY)


def span(first: str, last: str) -> list[str]:
    """``first`` .. ``last`` inclusive (same kind); [] when ``last`` is before ``first``."""
    out, period = [], first
    end = first_day(last)
    while first_day(period) <= end:
        out.append(period)
        period = shift(period, 1)
    return out


def containing(moment: datetime, kind: str, tz: str) -> str:
    return name(moment.astimezone(ZoneInfo(tz)).date(), kind)


def end_of(period: str, tz: str) -> datetime:
    """The first instant after ``period`` in ``tz`` (periods are cut in local time)."""
    start = first_day(shift(period, 1))
    return datetime.combine(start, time(0), tzinfo=ZoneInfo(tz))
