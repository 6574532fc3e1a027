"""The acceptance limit (受理时限) end to end on the shared clock: a case left undecided warns the
handling region's intake once at 80 % of its time and raises the overdue alert once at the limit,
with two complaints instances sweeping; cases accepted or declined in time raise nothing; a
referral restarts the clock under the receiving region."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from tests.casework import COUNTY, VILLAGE, chief_of, entries, file_case, get_case
from tests.fixtures import another_instance, wait_for

BEIJING = ZoneInfo("Asia/Shanghai")
ALERTS = ("accept_warning", "accept_overdue")
EVENTS = "('case_accept_warning', 'case_accept_overdue')"


@pytest.fixture
def second_complaints(system):
    with another_instance(system, "complaints") as container:
        yield container


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _daytime(at: datetime) -> datetime:
    """``at``, or the next 09:00 Beijing time if ``at`` falls in notify's quiet hours (in-app
    messages that are not urgent wait for the morning)."""
    local = at.astimezone(BEIJING)
    if time(8) <= local.time() < time(21):
        return at
    day = local.date() + timedelta(days=1 if local.time() >= time(21) else 0)
    return datetime.combine(day, time(9), tzinfo=BEIJING)


def _swept(system, clock, when: datetime) -> None:
    """Set the clock to ``when`` and return once a sweep has run at that time: a letter
    postmarked long ago is overdue on arrival, and its alert shows the sweep went by."""
    clock.set(when)
    postmark = (when.astimezone(BEIJING).date() - timedelta(days=60)).isoformat()
    r = system.call("POST", "/api/v1/intake", f"intake-{COUNTY}", json={
        "channel": "letter", "category": "waste.solid", "description": "来信 (标记)",
        "region_code": COUNTY, "postmarked_on": postmark})
    assert r.status_code == 201, r.text
    marker = r.json()["case_no"]
    case = wait_for(lambda: _with_alert(system, marker, "accept_overdue"),
                    message="a sweep at the new time")
    # Overdue on arrival: the warning would come too late to help, so there is none.
    assert not entries(case, "accept_warning")


def _with_alert(system, case_no, action) -> dict | None:
    case = get_case(system, case_no)
    return case if entries(case, action) else None


def _alerts(system, case_no) -> list[str]:
    return [h["action"] for h in get_case(system, case_no)["history"] if h["action"] in ALERTS]


def _column(system, service, sql, **params) -> list:
    engine = create_engine(system.databases[service])
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).scalars())
    finally:
        engine.dispose()


def _outbox(system, case_no) -> list[str]:
    return _column(system, "complaints", "SELECT event_type FROM outbox WHERE event_type IN "
                   f"{EVENTS} AND payload->>'case_no' = :n ORDER BY id", n=case_no)


def _inbox_rows(system, case_no) -> list[str]:
    """Every in-app message notify stored about the case's acceptance, by recipient."""
    return sorted(_column(system, "notify", "SELECT recipient_id || ' ' || event_type FROM "
                          "inapp_message WHERE case_no = :n AND event_type IN "
                          f"{EVENTS}", n=case_no))


def _messages(system, account, case_no, event_type) -> list[dict]:
    r = system.call("GET", "/api/v1/messages?limit=200", account)
    assert r.status_code == 200, r.text
    return [m for m in r.json() if m["case_no"] == case_no and m["event_type"] == event_type]


def test_warning_then_overdue_once_each_with_two_instances(system, second_complaints, clock):
    start = clock.now()
    undecided = file_case(system, VILLAGE)
    accepted = file_case(system, VILLAGE)
    declined = file_case(system, VILLAGE)
    view = get_case(system, undecided, f"intake-{COUNTY}")
    received, deadline = _utc(view["received_at"]), _utc(view["accept_deadline"])
    warn_at = _utc(view["accept_warn_at"])
    # The policy's 15 working days, due at the close of the office day, warned at 80 %.
    assert view["accept_due"] == deadline.astimezone(BEIJING).date().isoformat()
    assert deadline.astimezone(BEIJING).time() == time(17, 30)
    assert deadline - received > timedelta(days=15)
    assert abs((warn_at - received) / (deadline - received) - 0.8) < 0.001

    clock.set(start + timedelta(hours=2))
    assert system.call("POST", f"/api/v1/cases/{accepted}/accept", f"intake-{COUNTY}",
                       json={}).status_code == 200
    assert system.call("POST", f"/api/v1/cases/{declined}/decline", f"intake-{COUNTY}",
                       json={"reason": "insufficient"}).status_code == 200

    # Just before the warning point nothing is raised.
    _swept(system, clock, warn_at - timedelta(minutes=1))
    assert _alerts(system, undecided) == []

    at = _daytime(warn_at + timedelta(minutes=1))
    assert at < deadline
    clock.set(at)
    wait_for(lambda: _alerts(system, undecided) == ["accept_warning"], message="warning")
    warning = entries(get_case(system, undecided), "accept_warning")[0]
    assert warning["detail"]["accept_due"] == view["accept_due"]
    wait_for(lambda: _messages(system, f"intake-{COUNTY}", undecided, "case_accept_warning"),
             message="warning in the county intake inbox")

    _swept(system, clock, deadline + timedelta(minutes=1))
    wait_for(lambda: _alerts(system, undecided) == ["accept_warning", "accept_overdue"],
             message="overdue alert")
    wait_for(lambda: _messages(system, f"intake-{COUNTY}", undecided, "case_accept_overdue"),
             message="overdue alert in the county intake inbox")
    wait_for(lambda: _messages(system, chief_of(COUNTY), undecided, "case_accept_overdue"),
             message="overdue alert to the county's supervisor")

    # Later sweeps, by either instance, raise nothing more.
    _swept(system, clock, deadline + timedelta(days=30))
    assert _alerts(system, undecided) == ["accept_warning", "accept_overdue"]
    assert _outbox(system, undecided) == ["case_accept_warning", "case_accept_overdue"]
    assert _inbox_rows(system, undecided) == sorted([
        f"role:intake:{COUNTY} case_accept_warning", f"role:intake:{COUNTY} case_accept_overdue",
        f"{chief_of(COUNTY)} case_accept_overdue"])
    view = get_case(system, undecided, f"intake-{COUNTY}")
    assert view["status"] == "received" and view["accept_overdue_at"] and view["accept_warned_at"]
    # Cases decided in time raise nothing, whatever the clock says.
    for case_no in (accepted, declined):
        assert _alerts(system, case_no) == [] and _outbox(system, case_no) == []


def test_referral_restarts_the_clock_under_the_receiving_county(system, clock):
    start = clock.now()
    case_no = file_case(system, VILLAGE)
    before = get_case(system, case_no)
    clock.set(start + timedelta(days=10))
    r = system.call("POST", f"/api/v1/cases/{case_no}/refer", f"intake-{COUNTY}",
                    json={"to_region": "360322", "reason": "发生地在上栗县"})
    assert r.status_code == 200, r.text
    after = get_case(system, case_no)
    assert after["accept_due"] > before["accept_due"]
    assert _utc(after["accept_warn_at"]) > _utc(before["accept_deadline"])
    referred = entries(after, "referred")[0]["detail"]
    assert referred["accept_due"] == after["accept_due"]

    # The old county's limit passes: nothing, the case is no longer its to decide.
    _swept(system, clock, _utc(before["accept_deadline"]) + timedelta(minutes=1))
    assert _alerts(system, case_no) == []
    # The receiving county's intake is warned on its own limit.
    clock.set(_daytime(_utc(after["accept_warn_at"]) + timedelta(minutes=1)))
    wait_for(lambda: _alerts(system, case_no) == ["accept_warning"], message="warning")
    wait_for(lambda: _messages(system, "intake-360322", case_no, "case_accept_warning"),
             message="warning in the receiving county's intake inbox")
    assert not _messages(system, f"intake-{COUNTY}", case_no, "case_accept_warning")
    # Accepted there in time: no overdue alert at its limit.
    assert system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360322",
                       json={}).status_code == 200
    _swept(system, clock, _utc(after["accept_deadline"]) + timedelta(minutes=1))
    assert _alerts(system, case_no) == ["accept_warning"]
