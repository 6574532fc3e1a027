"""The bulletin schedule: when each period's bulletin falls due, and which are due now."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.ranking import metrics
from services.ranking.publishing import bounds, bulletin_id, due_periods, publish_at

CFG = metrics.load_config()
UTC = timezone.utc
BEIJING = timezone(timedelta(hours=8))


def test_publication_times_follow_the_configured_schedule():
    # Daily: 08:00 Beijing the next day.
    assert publish_at("daily", "2026-11-23", CFG) == datetime(2026, 11, 24, 8, tzinfo=BEIJING)
    # Weekly (ISO week 48 of 2026 is 23-29 November): the following Monday at 08:00.
    assert publish_at("weekly", "2026-W48", CFG) == datetime(2026, 11, 30, 8, tzinfo=BEIJING)
    # Monthly: the 2nd working day of the next month at 09:00; 1 Dec 2026 is a Tuesday.
    assert publish_at("monthly", "2026-11", CFG) == datetime(2026, 12, 2, 9, tzinfo=BEIJING)
    # October 2026: 1-7 October are the National Day holiday; the 8th is the first working day.
    assert publish_at("monthly", "2026-09", CFG) == datetime(2026, 10, 9, 9, tzinfo=BEIJING)
    # December rolls into January of the next year.
    assert publish_at("monthly", "2026-12", CFG).year == 2027


def test_periods_are_cut_in_local_time():
    start, end = bounds("daily", "2026-11-23", CFG)
    assert (start, end) == (datetime(2026, 11, 22, 16, tzinfo=UTC),
                            datetime(2026, 11, 23, 16, tzinfo=UTC))
    start, end = bounds("monthly", "2026-12", CFG)
    assert end - start == timedelta(days=31)
    assert bounds("weekly", "2026-W53", CFG)[0] == datetime(2026, 12, 27, 16, tzinfo=UTC)


def test_due_periods_just_before_and_after_the_time():
    at = publish_at("daily", "2026-11-23", CFG)
    first = datetime(2026, 11, 20, tzinfo=UTC)
    assert due_periods("daily", at - timedelta(seconds=1), CFG, first)[-1] == "2026-11-22"
    assert due_periods("daily", at, CFG, first)[-1] == "2026-11-23"
    # Nothing before the first recorded event, nothing more than `catch_up` back.
    assert due_periods("daily", at, CFG, first) == ["2026-11-20", "2026-11-21", "2026-11-22",
                                                    "2026-11-23"]
    assert len(due_periods("daily", at, CFG, None)) == CFG["bulletins"]["catch_up"]["daily"]
    assert due_periods("daily", at, CFG, at) == []
    monthly = due_periods("monthly", datetime(2026, 12, 2, 1, 0, tzinfo=UTC), CFG, first)
    assert monthly == ["2026-11"]
    assert due_periods("monthly", datetime(2026, 12, 2, 0, 59, tzinfo=UTC), CFG, first) == []


def test_bulletin_ids_are_one_per_kind_period_and_region():
    assert bulletin_id("monthly", "2026-11", "360300") == "monthly-2026-11-360300"
