"""Chinese working days (工作日): holidays (法定节假日) and make-up working days (调休) respected.

Source of truth, in order:

1. the ``chinesecalendar`` package (years 2004-2026 in version 1.11);
2. ``infra/config/holidays.yaml`` (path overridable with ``ENVGRID_HOLIDAYS``) for years the
   package does not know: the State Council notice entered by hand;
3. otherwise Monday-Friday are working days.

A year is *covered* (``calendar_covers``) under 1 or 2 (2 only once at least one holiday is
entered). A deadline counted through an uncovered year is a guess and callers flag it
"estimated" (``span_covered``).

Deadline rule (``add_working_days``): work received at any time on local day D with a limit of
n working days is due at the end of the working day (``end_of_day``, default 17:30 Beijing time,
when the offices and the 12369 line close) on the n-th working day *after* D. D itself never
counts, even when the work arrives at 08:00, so every assignee gets n whole working days;
n = 0 means the end of D if D is a working day, else of the next working day.

Datetimes in and out are tz-aware; a naive datetime is read as UTC (what the database returns).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

DEFAULT_TZ = "Asia/Shanghai"
# Government offices and the 12369 line close at 17:30 (workday hours 8:30-12:00, 14:00-17:30).
DEFAULT_END_OF_DAY = time(17, 30)
HOLIDAYS_FILE = Path(__file__).resolve().parents[2] / "infra" / "config" / "holidays.yaml"

# Longest run of consecutive non-working days we accept before calling the data broken
# (Spring Festival with weekends is 9-10 days).
_MAX_GAP_DAYS = 31


def as_utc(value: datetime) -> datetime:
    """``value`` as tz-aware UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def zone_of(tz) -> ZoneInfo:
    """A ``ZoneInfo`` from a name or a ``ZoneInfo`` (None: Beijing time)."""
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz or DEFAULT_TZ)


def end_of_day_time(value) -> time:
    """``"17:30"``, a ``time`` or None (the default) as a ``time``."""
    if value is None:
        return DEFAULT_END_OF_DAY
    if isinstance(value, time):
        return value
    return time.fromisoformat(str(value))


@functools.lru_cache(maxsize=None)
def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass(frozen=True)
class YearData:
    """One year of the State Council notice: days off and make-up working days."""

    holidays: frozenset = field(default_factory=frozenset)
    workdays: frozenset = field(default_factory=frozenset)


class WorkCalendar:
    """Working-day calendar: ``chinesecalendar`` first, then the hand-entered ``fallback`` years.

    ``fallback`` maps a year to ``{holidays: [dates], workdays: [dates]}`` (the YAML layout).
    """

    def __init__(self, fallback: dict | None = None):
        self.fallback: dict[int, YearData] = {}
        # Deadlines step through days one at a time; the answer for a day never changes.
        self._days: dict[date, bool] = {}
        self._next: dict[tuple[date, int], date] = {}
        for year, entry in (fallback or {}).items():
            self.fallback[int(year)] = self._year(int(year), entry or {})

    @staticmethod
    def _year(year: int, entry: dict) -> YearData:
        days = {}
        for key in ("holidays", "workdays"):
            values = set()
            for raw in entry.get(key) or []:
                d = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
                if d.year != year:
                    raise ValueError(f"holidays.yaml: {d} listed under {year}")
                values.add(d)
            days[key] = frozenset(values)
        both = days["holidays"] & days["workdays"]
        if both:
            raise ValueError(f"holidays.yaml: {sorted(both)[0]} is both a holiday and a workday")
        return YearData(**days)

    @classmethod
    def from_file(cls, path: str | os.PathLike | None = None) -> "WorkCalendar":
        path = Path(path or os.environ.get("ENVGRID_HOLIDAYS", HOLIDAYS_FILE))
        if not path.exists():
            return cls({})
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")) or {})

    def covers(self, year: int) -> bool:
        if _package_covers(year):
            return True
        entry = self.fallback.get(year)
        return bool(entry and entry.holidays)

    def is_working_day(self, d: date) -> bool:
        known = self._days.get(d)
        if known is None:
            known = self._days[d] = self._is_working_day(d)
        return known

    def _is_working_day(self, d: date) -> bool:
        if _package_covers(d.year):
            return chinese_calendar.is_workday(d)
        entry = self.fallback.get(d.year)
        if entry is not None:
            if d in entry.workdays:
                return True
            if d in entry.holidays:
                return False
        return d.weekday() < 5

    def next_working_day(self, d: date, n: int = 1) -> date:
        """The n-th working day strictly after ``d`` (n >= 1)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        # Kept: a sweep works out the ladders of hundreds of tasks due on a few dates.
        found = self._next.get((d, n))
        if found is None:
            if len(self._next) > 100_000:
                self._next.clear()
            found = self._next[(d, n)] = self._count_forward(d, n)
        return found

    def _count_forward(self, d: date, n: int) -> date:
        gap = 0
        while n:
            d += timedelta(days=1)
            if self.is_working_day(d):
                n -= 1
                gap = 0
            else:
                gap += 1
                if gap > _MAX_GAP_DAYS:
                    raise ValueError(f"no working day for {_MAX_GAP_DAYS} days before {d}")
        return d


@functools.lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    return WorkCalendar.from_file()


def _cal(calendar: WorkCalendar | None) -> WorkCalendar:
    return calendar or default_calendar()


def calendar_covers(year: int, calendar: WorkCalendar | None = None) -> bool:
    """True when the holidays of ``year`` are known (else working days are Mon-Fri guesses)."""
    return _cal(calendar).covers(year)


def span_covered(first: date, last: date, calendar: WorkCalendar | None = None) -> bool:
    """True when every year from ``first`` to ``last`` is covered (a deadline is not estimated)."""
    lo, hi = sorted((first.year, last.year))
    return all(_cal(calendar).covers(y) for y in range(lo, hi + 1))


def is_working_day(d: date, calendar: WorkCalendar | None = None) -> bool:
    """Is ``d`` a Chinese working day? Holidays are off; 调休 weekend days are working days."""
    return _cal(calendar).is_working_day(d)


def add_working_days(start: datetime, n: int, tz=DEFAULT_TZ, *, end_of_day=None,
                     calendar: WorkCalendar | None = None) -> datetime:
    """Deadline for work received at ``start`` with a limit of ``n`` working days (限时办结).

    Due at ``end_of_day`` (default 17:30) local time in ``tz`` on the n-th working day after the
    local date of ``start``; n = 0 gives the end of that day if it is a working day, else of
    the next working day. Returns a tz-aware UTC datetime.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    zone, cal = zone_of(tz), _cal(calendar)
    day = as_utc(start).astimezone(zone).date()
    if n > 0:
        day = cal.next_working_day(day, n)
    elif not cal.is_working_day(day):
        day = cal.next_working_day(day, 1)
    local = datetime.combine(day, end_of_day_time(end_of_day), tzinfo=zone)
    return local.astimezone(timezone.utc)


def working_days_between(a: datetime, b: datetime, tz=DEFAULT_TZ, *,
                         calendar: WorkCalendar | None = None) -> float:
    """Elapsed time from ``a`` to ``b`` counted in working days, for time-to-close statistics.

    Each working day contributes the fraction of its local 24 hours that lies between ``a`` and
    ``b``; holidays and weekends contribute nothing. Friday 10:00 to Monday 10:00 is 1.0; the
    result is negative when ``b`` is before ``a`` and additive over consecutive intervals.
    """
    a, b = as_utc(a), as_utc(b)
    if b < a:
        return -working_days_between(b, a, tz, calendar=calendar)
    zone, cal = zone_of(tz), _cal(calendar)
    day, last = a.astimezone(zone).date(), b.astimezone(zone).date()
    total = 0.0
    while day <= last:
        if cal.is_working_day(day):
            lo = datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)
            hi = datetime.combine(day + timedelta(days=1), time(0),
                                  tzinfo=zone).astimezone(timezone.utc)
            overlap = (min(hi, b) - max(lo, a)).total_seconds()
            if overlap > 0:
                total += overlap / (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total


def nth_working_day_of_month(year: int, month: int, n: int,
                             calendar: WorkCalendar | None = None) -> date:
    """The n-th working day (n >= 1) of a month, e.g. progress reports due on the 2nd (`003`)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    cal = _cal(calendar)
    first = date(year, month, 1)
    found = first if cal.is_working_day(first) else cal.next_working_day(first)
    if n > 1:
        found = cal.next_working_day(found, n - 1)
    if found.month != month or found.year != year:
        raise ValueError(f"{year}-{month:02d} has fewer than {n} working days")
    return found
