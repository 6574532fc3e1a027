"""Time limits, warnings, the escalation ladder and extensions, from the policy as data."""
import copy
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from services.common.config import Policy
from services.common.errors import ValidationError
from services.dispatch.deadlines import (
    Action, Ladder, Rung, TaskState, add_limit, compute_deadline, escalation_schedule, extend,
    next_actions, time_limit,
)

CST = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


@pytest.fixture(scope="module")
def rules() -> dict:
    return Policy.load().for_region("360323")


# --- time_limit -------------------------------------------------------------------------------
def test_limits_from_policy(rules):
    assert time_limit(rules, "air.odour", "urgent") == {"hours": 24}
    assert time_limit(rules, "air.odour", "high") == {"working_days": 5}
    assert time_limit(rules, "water.industrial", "normal") == {"working_days": 15}
    assert time_limit(rules, "radiation", "normal") == {"working_days": 5}  # by_category
    assert time_limit(rules, "radiation", "urgent") == {"hours": 24}  # falls back to default


def test_category_family_override_and_exact_wins(rules):
    r = copy.deepcopy(rules)
    r["time_limits"]["by_category"] = {"air": {"normal": {"working_days": 3}},
                                       "air.cooking": {"normal": {"days": 30}}}
    assert time_limit(r, "air.odour", "normal") == {"working_days": 3}
    assert time_limit(r, "air.cooking", "normal") == {"days": 30}
    assert time_limit(r, "noise.industrial", "normal") == {"working_days": 15}


def test_region_override_applies():
    data = copy.deepcopy(Policy.load().data)
    data["regions"]["610000"] = {"time_limits": {"default": {"normal": {"working_days": 7}}}}
    shaanxi = Policy(data).for_region("610102")
    assert time_limit(shaanxi, "air.odour", "normal") == {"working_days": 7}
    assert time_limit(Policy(data).for_region("360323"), "air.odour", "normal") == {
        "working_days": 15}


def test_unknown_priority_and_category(rules):
    with pytest.raises(ValidationError) as err:
        time_limit(rules, "air.odour", "whenever")
    assert err.value.code == "unknown_priority" and err.value.field == "priority"
    with pytest.raises(ValidationError) as err:
        time_limit(rules, "no.such", "normal")
    assert err.value.code == "unknown_category"


def test_malformed_limit_is_a_config_error(rules):
    r = copy.deepcopy(rules)
    r["time_limits"]["default"]["normal"] = {"weeks": 2}
    with pytest.raises(ValueError):
        time_limit(r, "air.odour", "normal")
    r["time_limits"]["default"]["normal"] = {"working_days": 2.5}
    with pytest.raises(ValueError):
        time_limit(r, "air.odour", "normal")


# --- compute_deadline -------------------------------------------------------------------------
def test_high_priority_over_national_day(rules):
    # Assigned Mon 2026-09-28 10:00 CST (02:00 UTC), 5 working days: 09-29, 09-30, [Oct 1-7 off],
    # 10-08, 10-09, Sat 10-10 (调休) -> due 10-10 17:30 CST = 09:30 UTC.
    start = cst(2026, 9, 28, 10)
    d = compute_deadline(rules, "air.odour", "high", start)
    assert d.due == datetime(2026, 10, 10, 9, 30, tzinfo=UTC)
    # 295.5 h from start to due; 80 % is 236.4 h = 9 d 20 h 24 min -> 10-07 22:24 UTC.
    assert d.warn_at == datetime(2026, 10, 7, 22, 24, tzinfo=UTC)
    assert d.estimated is False


def test_urgent_is_calendar_hours(rules):
    start = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)  # a holiday: hours still run
    d = compute_deadline(rules, "air.odour", "urgent", start)
    assert d.due == start + timedelta(hours=24)
    assert d.warn_at == start + timedelta(hours=19, minutes=12)
    assert not d.estimated


def test_deadline_into_uncovered_year_is_estimated(rules):
    d = compute_deadline(rules, "air.odour", "normal", cst(2026, 12, 21, 9))
    assert d.due.year == 2027 and d.estimated
    inside = compute_deadline(rules, "air.odour", "normal", cst(2026, 11, 2, 9))
    assert not inside.estimated
    hours = compute_deadline(rules, "air.odour", "urgent", cst(2027, 3, 1, 9))
    assert not hours.estimated  # calendar hours need no holiday table


def test_calendar_days_end_of_day_and_policy_end_of_day(rules):
    r = copy.deepcopy(rules)
    r["time_limits"]["default"]["normal"] = {"days": 60}
    d = compute_deadline(r, "air.odour", "normal", cst(2026, 3, 1, 23, 50))
    assert d.due == cst(2026, 4, 30, 17, 30)
    r["time_limits"]["end_of_day"] = "18:00"
    assert compute_deadline(r, "air.odour", "high", cst(2026, 3, 13, 9)).due == cst(
        2026, 3, 20, 18)


def test_warn_fraction_from_policy_and_validated(rules):
    r = copy.deepcopy(rules)
    r["time_limits"]["warn_at_fraction"] = 0.5
    start = datetime(2026, 3, 2, tzinfo=UTC)
    assert compute_deadline(r, "air.odour", "urgent", start).warn_at == start + timedelta(
        hours=12)
    r["time_limits"]["warn_at_fraction"] = 1.5
    with pytest.raises(ValueError):
        compute_deadline(r, "air.odour", "urgent", start)


# --- escalation_schedule ----------------------------------------------------------------------
def test_ladder_counts_working_days_from_due(rules):
    due = cst(2026, 9, 30, 17, 30)
    sched = escalation_schedule(rules, due)
    assert [(r.rung, r.name, r.zh) for r in sched] == [
        (1, "listed_supervision", "挂账督办"), (2, "dedicated_followup", "专案盯办"),
        (3, "public_notice", "通报/催办/约谈")]
    assert sched[0].at == due
    # 3 working days after Wed 09-30: 10-08, 10-09, Sat 10-10 (调休).
    assert sched[1].at == cst(2026, 10, 10, 17, 30)
    # 10 working days: 10-08, 09, 10, 12, 13, 14, 15, 16, 19, 20.
    assert sched[2].at == cst(2026, 10, 20, 17, 30)
    rung, name, zh, at = sched[1]  # plain tuples for callers that unpack
    assert rung == 2 and at.tzinfo is not None


def test_misordered_ladder_refused(rules):
    r = copy.deepcopy(rules)
    r["escalation"][1]["after"] = {"working_days": 20}
    with pytest.raises(ValueError):
        escalation_schedule(r, cst(2026, 9, 30, 17, 30))


MIXED_LADDER = [{"rung": 1, "name": "a", "after": {"hours": 0}},
                {"rung": 2, "name": "b", "after": {"hours": 2}},
                {"rung": 3, "name": "c", "after": {"days": 1}},
                {"rung": 4, "name": "d", "after": {"working_days": 3}},
                {"rung": 5, "name": "e", "after": {"working_days": 10}}]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                             timezones=st.just(UTC)), min_size=1, max_size=12))
def test_a_ladder_used_for_many_due_times_gives_each_its_own_rungs(rules, dues):
    """The ladder keeps rung instants per local date: reused across a sweep's due times (across
    local and UTC midnights, holidays and 调休 days) it must give what counting afresh gives."""
    r = dict(copy.deepcopy(rules), escalation=MIXED_LADDER)
    ladder = Ladder(r)
    for due in dues + dues[::-1]:
        got = ladder.at(due)
        assert [(x.rung, x.name) for x in got] == [(s["rung"], s["name"]) for s in MIXED_LADDER]
        assert [x.at for x in got] == [add_limit(r, due, s["after"]) for s in MIXED_LADDER]


def test_a_ladder_keys_dates_by_local_day(rules):
    """16:30 and 15:30 UTC are one UTC day but two days in Beijing: two different rungs."""
    ladder = Ladder(rules)
    first = ladder.at(datetime(2026, 10, 12, 15, 30, tzinfo=UTC))  # Mon 23:30 CST
    second = ladder.at(datetime(2026, 10, 12, 16, 30, tzinfo=UTC))  # Tue 00:30 CST
    assert first[1].at == cst(2026, 10, 15, 17, 30)  # 3 working days after Monday
    assert second[1].at == cst(2026, 10, 16, 17, 30)  # 3 working days after Tuesday


def test_a_ladder_refuses_a_bad_step_at_once(rules):
    for bad in ({"rung": 1}, {"rung": 1, "name": "x", "after": {"weeks": 1}}):
        with pytest.raises(ValueError):
            Ladder(dict(rules, escalation=[bad]))


# --- next_actions -----------------------------------------------------------------------------
@pytest.fixture
def state(rules):
    d = compute_deadline(rules, "air.odour", "high", cst(2026, 9, 28, 10))
    return TaskState.from_policy(rules, d.due, d.warn_at)


def test_nothing_before_warning(state):
    out = next_actions(state, state.warn_at - timedelta(seconds=1))
    assert out.actions == [] and not out.warned and out.next_check_at == state.warn_at


def test_warning_once_then_first_rung(state):
    out = next_actions(state, state.warn_at)
    assert [a.kind for a in out.actions] == ["warning"] and out.warned and out.rung == 0
    assert out.next_check_at == state.schedule[0].at
    state.warned = out.warned
    assert next_actions(state, state.warn_at + timedelta(hours=1)).actions == []
    out = next_actions(state, state.due)
    assert [(a.kind, a.rung) for a in out.actions] == [("escalation", 1)]
    assert out.next_check_at == state.schedule[1].at


def test_far_overdue_gets_missing_rungs_in_order_and_no_late_warning(state):
    out = next_actions(state, state.due + timedelta(days=60))
    assert [(a.kind, a.rung, a.name) for a in out.actions] == [
        ("escalation", 1, "listed_supervision"), ("escalation", 2, "dedicated_followup"),
        ("escalation", 3, "public_notice")]
    assert out.warned and out.rung == 3 and out.next_check_at is None


def test_only_rungs_above_current(state):
    state.warned, state.rung = True, 1
    out = next_actions(state, state.schedule[2].at)
    assert [a.rung for a in out.actions] == [2, 3]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40 * 24), min_size=1, max_size=30))
def test_any_sweep_sequence_fires_each_event_once_in_order(hours):
    rules = Policy.load().for_region("360323")
    start = cst(2026, 9, 28, 10)
    d = compute_deadline(rules, "air.odour", "high", start)
    st_ = TaskState.from_policy(rules, d.due, d.warn_at)
    fired: list[Action] = []
    last = start
    for h in sorted(hours):
        now = start + timedelta(hours=h)
        out = next_actions(st_, now)
        for a in out.actions:
            assert a.at <= now
        fired += out.actions
        st_.warned, st_.rung = out.warned, out.rung
        last = now
    rungs = [a.rung for a in fired if a.kind == "escalation"]
    assert rungs == sorted(set(rungs))
    assert rungs == [r.rung for r in st_.schedule if r.at <= last]
    assert sum(a.kind == "warning" for a in fired) <= 1


# --- extend -----------------------------------------------------------------------------------
def test_extend_within_limits(rules):
    due = datetime(2026, 10, 10, 9, 30, tzinfo=UTC)
    assert extend(rules, due, 30, "需补充监测", 0) == due + timedelta(days=30)


@pytest.mark.parametrize("days,reason,count,code", [
    (31, "原因", 0, "out_of_range"), (0, "原因", 0, "out_of_range"),
    (True, "原因", 0, "out_of_range"), (5, "  ", 0, "missing_field"),
    (5, "原因", 1, "extension_limit")])
def test_extend_refusals(rules, days, reason, count, code):
    with pytest.raises(ValidationError) as err:
        extend(rules, datetime(2026, 10, 10, 9, 30, tzinfo=UTC), days, reason, count)
    assert err.value.code == code


def test_extend_in_working_days_and_larger_count(rules):
    r = copy.deepcopy(rules)
    r["extension"] = {"max_count": 2, "max_days": 10, "unit": "working_days"}
    due = cst(2026, 9, 30, 17, 30)
    assert extend(r, due, 3, "原因", 1) == cst(2026, 10, 10, 17, 30)


def test_rung_is_a_tuple():
    r = Rung(1, "a", "甲", datetime(2026, 1, 1, tzinfo=UTC))
    assert tuple(r)[:3] == (1, "a", "甲")
