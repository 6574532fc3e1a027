"""Chinese working-day arithmetic: holidays, 调休 make-up days, uncovered years, statistics."""
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from services.common import workdays
from services.common.workdays import (
    WorkCalendar, add_working_days, calendar_covers, is_working_day, nth_working_day_of_month,
    span_covered, working_days_between,
)

CST = ZoneInfo("Asia/Shanghai")


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


# --- is_working_day --------------------------------------------------------------------------
def test_national_day_2026_is_off_and_makeup_saturday_is_on():
    # chinesecalendar 1.11, 2026: Oct 1-7 off (Oct 3-4 the weekend), Sat Oct 10 调休 working day.
    for d in range(1, 8):
        assert not is_working_day(date(2026, 10, d))
    assert is_working_day(date(2026, 10, 8))
    assert is_working_day(date(2026, 10, 10))  # a Saturday
    assert date(2026, 10, 10).weekday() == 5
    assert not is_working_day(date(2026, 10, 11))  # ordinary Sunday


def test_mid_autumn_friday_and_makeup_sunday_2026():
    assert not is_working_day(date(2026, 9, 25))  # 中秋, a Friday
    assert is_working_day(date(2026, 9, 20))  # Sunday worked for National Day


def test_plain_weekday_and_weekend():
    assert is_working_day(date(2026, 3, 10))
    assert not is_working_day(date(2026, 3, 14))


def test_uncovered_year_falls_back_to_monday_to_friday():
    cal = WorkCalendar({})
    assert not calendar_covers(2030, cal)
    assert is_working_day(date(2030, 1, 1), cal)  # a Tuesday; New Year unknown, so worked
    assert not is_working_day(date(2030, 1, 5), cal)  # Saturday


def test_2027_is_present_in_yaml_but_not_covered_until_entered():
    # holidays.yaml ships 2027 empty: still an estimate, Mon-Fri.
    assert 2027 in WorkCalendar.from_file().fallback
    assert not calendar_covers(2027)
    assert calendar_covers(2026) and calendar_covers(2004)
    assert is_working_day(date(2027, 1, 1))  # a Friday, holiday not yet entered


def test_yaml_fallback_year_respects_holidays_and_makeup_days():
    cal = WorkCalendar({2027: {"holidays": [date(2027, 10, 1), "2027-10-04"],
                               "workdays": ["2027-10-09"]}})
    assert cal.covers(2027)
    assert not cal.is_working_day(date(2027, 10, 1))
    assert not cal.is_working_day(date(2027, 10, 4))  # Monday off
    assert cal.is_working_day(date(2027, 10, 9))  # Saturday worked
    assert cal.is_working_day(date(2027, 10, 5))


def test_fallback_never_overrides_the_package_for_covered_years():
    cal = WorkCalendar({2026: {"holidays": ["2026-03-10"]}})
    assert cal.is_working_day(date(2026, 3, 10))


def test_bad_yaml_entries_are_refused():
    with pytest.raises(ValueError):
        WorkCalendar({2027: {"holidays": ["2028-01-01"]}})
    with pytest.raises(ValueError):
        WorkCalendar({2027: {"holidays": ["2027-02-06"], "workdays": ["2027-02-06"]}})


def test_from_file_reads_env_path(tmp_path, monkeypatch):
    path = tmp_path / "h.yaml"
    path.write_text("2031:\n  holidays: [2031-01-01]\n  workdays: [2031-01-04]\n")
    monkeypatch.setenv("ENVGRID_HOLIDAYS", str(path))
    cal = WorkCalendar.from_file()
    assert cal.covers(2031) and not cal.is_working_day(date(2031, 1, 1))
    assert cal.is_working_day(date(2031, 1, 4))  # a Saturday


# --- add_working_days ------------------------------------------------------------------------
def test_accepted_before_national_day_2026_due_on_makeup_saturday():
    # Accepted Mon 2026-09-28, 5 working days. Day of acceptance does not count:
    #   Tue 09-29 (1), Wed 09-30 (2), Oct 1-7 holiday, Thu 10-08 (3), Fri 10-09 (4),
    #   Sat 10-10 调休 working day (5)  ->  due 2026-10-10 17:30 CST = 09:30 UTC.
    due = add_working_days(cst(2026, 9, 28, 10, 0), 5)
    assert due == datetime(2026, 10, 10, 9, 30, tzinfo=timezone.utc)
    assert due.tzinfo == timezone.utc


def test_local_date_decides_not_utc_date():
    # 2026-03-09 20:00 UTC is already Tue 03-10 04:00 in Beijing: counting starts from Tuesday.
    due = add_working_days(datetime(2026, 3, 9, 20, 0, tzinfo=timezone.utc), 1)
    assert due == cst(2026, 3, 11, 17, 30)


def test_naive_start_is_utc():
    assert add_working_days(datetime(2026, 3, 9, 20, 0), 1) == cst(2026, 3, 11, 17, 30)


def test_friday_plus_one_is_monday_and_end_of_day_is_configurable():
    assert add_working_days(cst(2026, 3, 13, 9), 1) == cst(2026, 3, 16, 17, 30)
    assert add_working_days(cst(2026, 3, 13, 9), 1, end_of_day="18:00") == cst(2026, 3, 16, 18)
    assert add_working_days(cst(2026, 3, 13, 9), 1, end_of_day=time(12)) == cst(2026, 3, 16, 12)


def test_zero_days_is_end_of_same_or_next_working_day():
    assert add_working_days(cst(2026, 3, 13, 9), 0) == cst(2026, 3, 13, 17, 30)
    assert add_working_days(cst(2026, 3, 14, 9), 0) == cst(2026, 3, 16, 17, 30)  # Saturday


def test_received_on_a_holiday_counts_from_the_next_working_day():
    # Received during Spring Festival 2026 (Feb 15-23 off), 1 working day -> Tue Feb 24.
    assert add_working_days(cst(2026, 2, 18, 11), 1) == cst(2026, 2, 24, 17, 30)
    # Sat Feb 28 2026 is a 调休 working day: received Fri 27th, due Sat 28th.
    assert add_working_days(cst(2026, 2, 27, 11), 1) == cst(2026, 2, 28, 17, 30)


def test_other_timezone():
    due = add_working_days(datetime(2026, 3, 13, 9, tzinfo=timezone.utc), 1, tz="UTC")
    assert due == datetime(2026, 3, 16, 17, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_n_refused(bad):
    with pytest.raises(ValueError):
        add_working_days(cst(2026, 3, 13, 9), bad)


def test_across_year_end_into_uncovered_year():
    # 2026-12-31 is a Thursday; 2027 unknown -> Fri 2027-01-01 counts as a working day.
    assert add_working_days(cst(2026, 12, 31, 9), 1) == cst(2027, 1, 1, 17, 30)
    assert not span_covered(date(2026, 12, 31), date(2027, 1, 1))
    assert span_covered(date(2025, 12, 31), date(2026, 1, 5))


def test_broken_calendar_with_no_working_days_is_detected():
    every_day = [date(2031, 1, 1) + timedelta(days=i) for i in range(365)]
    cal = WorkCalendar({2031: {"holidays": every_day}})
    with pytest.raises(ValueError):
        add_working_days(cst(2031, 3, 1), 1, calendar=cal)


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2026, 11, 30),
                    timezones=st.just(timezone.utc)),
       st.integers(min_value=1, max_value=40))
def test_due_is_a_working_day_with_exactly_n_working_days_after_start(start, n):
    due = add_working_days(start, n)
    local_due = due.astimezone(CST)
    assert local_due.time() == time(17, 30)
    assert is_working_day(local_due.date())
    d, count = start.astimezone(CST).date(), 0
    while d < local_due.date():
        d += timedelta(days=1)
        count += is_working_day(d)
    assert count == n
    assert add_working_days(start, n + 1) > due


# --- working_days_between --------------------------------------------------------------------
def test_friday_to_monday_is_one_working_day():
    assert working_days_between(cst(2026, 3, 13, 10), cst(2026, 3, 16, 10)) == pytest.approx(1.0)


def test_over_national_day_holiday():
    # Wed 09-30 12:00 -> Thu 10-08 12:00: half of 09-30, nothing Oct 1-7, half of 10-08.
    assert working_days_between(cst(2026, 9, 30, 12), cst(2026, 10, 8, 12)) == pytest.approx(1.0)


def test_within_a_holiday_is_zero_and_reverse_is_negative():
    assert working_days_between(cst(2026, 10, 2), cst(2026, 10, 6)) == 0
    assert working_days_between(cst(2026, 3, 17), cst(2026, 3, 16)) == pytest.approx(-1.0)
    assert working_days_between(cst(2026, 3, 16, 6), cst(2026, 3, 16, 18)) == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31),
                             timezones=st.just(timezone.utc)), min_size=3, max_size=3))
def test_between_is_additive(points):
    a, b, c = sorted(points)
    whole = working_days_between(a, c)
    assert whole == pytest.approx(working_days_between(a, b) + working_days_between(b, c))
    assert 0 <= whole <= (c - a).total_seconds() / 86400 + 1e-9


# --- nth_working_day_of_month ----------------------------------------------------------------
def test_progress_report_day_second_working_day():
    # Oct 2026: 1-7 holiday, so the 1st working day is Thu 8th, the 2nd Fri 9th.
    assert nth_working_day_of_month(2026, 10, 2) == date(2026, 10, 9)
    # Feb 2026: Mon 2nd is the 1st working day, Tue 3rd the 2nd.
    assert nth_working_day_of_month(2026, 2, 2) == date(2026, 2, 3)
    # Mar 2026: Sun 1st; Mon 2nd and Tue 3rd.
    assert nth_working_day_of_month(2026, 3, 1) == date(2026, 3, 2)
    assert nth_working_day_of_month(2026, 3, 2) == date(2026, 3, 3)


def test_nth_working_day_counts_makeup_saturday():
    # Jan 2026: Jan 1-2 holiday (Thu, Fri), Sun Jan 4 is a 调休 working day -> 1st working day.
    assert nth_working_day_of_month(2026, 1, 1) == date(2026, 1, 4)
    assert nth_working_day_of_month(2026, 1, 2) == date(2026, 1, 5)


def test_nth_working_day_out_of_month():
    with pytest.raises(ValueError):
        nth_working_day_of_month(2026, 10, 25)
    with pytest.raises(ValueError):
        nth_working_day_of_month(2026, 10, 0)


def test_default_calendar_is_cached():
    assert workdays.default_calendar() is workdays.default_calendar()
