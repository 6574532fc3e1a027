"""Patrol walks (巡查记录) end to end: a grid worker records walks of their own grid, files a
patrol report, and the county's problem-discovery rate (发现问题率 = patrol cases / patrols)
moves by exactly what they did; others cannot record walks of that grid."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.casework import COUNTY, OTHER_VILLAGE, VILLAGE, VILLAGE_2, chief_of, worker_of
from tests.fixtures import wait_for

WORKER = worker_of(VILLAGE)


def _walk(now, minutes=60, **extra):
    started = now - timedelta(minutes=minutes + 10)
    return dict({"grid_code": VILLAGE, "started_at": started.isoformat(),
                 "ended_at": (started + timedelta(minutes=minutes)).isoformat()}, **extra)


def _period(moment) -> str:
    return (moment + timedelta(hours=8)).strftime("%Y-%m")  # Asia/Shanghai


def _county(system, period) -> dict:
    r = system.call("GET", f"/api/v1/stats/regions?period={period}")
    assert r.status_code == 200, r.text
    return next((row["figures"] for row in r.json() if row["scope"] == COUNTY), {})


def test_walks_and_finds_move_the_discovery_rate(system):
    now = system.clock.now()
    period = _period(now - timedelta(minutes=100))
    assert period == _period(now), "the walks and the report fall in one month"
    before = _county(system, period)

    first = system.call("POST", "/api/v1/patrols", WORKER, json=_walk(now, 90, note="河道巡查"))
    assert first.status_code == 201, first.text
    assert first.json()["minutes"] == 90 and first.json()["region_code"] == COUNTY
    r = system.call("POST", "/api/v1/reports", WORKER, json={
        "category": "air.dust", "grid_code": VILLAGE,
        "description": "巡查发现扬尘 " + uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    second = system.call("POST", "/api/v1/patrols", WORKER,
                         json={"grid_code": VILLAGE, "minutes": 30, "case_nos": [case_no],
                               "started_at": (now - timedelta(minutes=40)).isoformat()})
    assert second.status_code == 201, second.text
    assert second.json()["case_nos"] == [case_no]

    def moved():
        after = _county(system, period)
        return after if after.get("patrols", 0) >= before.get("patrols", 0) + 2 \
            and after.get("patrol_cases", 0) >= before.get("patrol_cases", 0) + 1 else None
    after = wait_for(moved, message="ranking to count the walks and the report")
    assert after["patrols"] == before.get("patrols", 0) + 2
    assert after["patrol_minutes"] == before.get("patrol_minutes", 0) + 120
    assert after["patrol_cases"] == before.get("patrol_cases", 0) + 1
    assert after["problem_discovery_rate"] == pytest.approx(
        after["patrol_cases"] / after["patrols"])
    if before.get("patrols"):
        assert after["problem_discovery_rate"] != before["problem_discovery_rate"] or \
            before["patrol_cases"] * 2 == before["patrols"]

    # The county's staff list them; the worker sees their own.
    listed = system.call("GET", f"/api/v1/patrols?grid={VILLAGE}", f"supervisor-{COUNTY}")
    ids = {p["patrol_id"] for p in listed.json()}
    assert {first.json()["patrol_id"], second.json()["patrol_id"]} <= ids
    mine = system.call("GET", "/api/v1/patrols", WORKER).json()
    assert mine and all(p["worker_id"] == WORKER for p in mine)
    day = (now + timedelta(hours=8)).date()
    later = system.call("GET", f"/api/v1/patrols?from={day + timedelta(days=1)}",
                        f"supervisor-{COUNTY}").json()
    assert first.json()["patrol_id"] not in {p["patrol_id"] for p in later}
    outsider = system.call("GET", "/api/v1/patrols", "supervisor-360313").json()
    assert not ids & {p["patrol_id"] for p in outsider}


def test_only_people_of_the_grid_record_its_walks(system):
    now = system.clock.now()
    # A worker of the neighbouring village in the same county: refused.
    r = system.call("POST", "/api/v1/patrols", worker_of(VILLAGE_2), json=_walk(now))
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_grid", r.text
    # A worker of another county: the grid is not in their region.
    r = system.call("POST", "/api/v1/patrols", worker_of(OTHER_VILLAGE), json=_walk(now))
    assert r.status_code == 404, r.text
    # The village's own chief may.
    r = system.call("POST", "/api/v1/patrols", chief_of(VILLAGE), json=_walk(now))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("change, field", [
    ({"grid_code": "999999999999"}, "grid_code"),
    ({"started_at": "yesterday"}, "started_at"),
    ({"started_at": "2026-11-23T08:00:00"}, "started_at"),      # no offset
    ({"ended_at": None}, "ended_at"),                           # neither end nor minutes
    ({"minutes": 0, "ended_at": None}, "minutes"),
    ({"case_nos": ["360313-20261123-0001"]}, "case_nos"),       # another county's case
    ({"note": 5}, "note"),
])
def test_bad_walks_are_422_with_the_field(system, change, field):
    body = {k: v for k, v in dict(_walk(system.clock.now()), **change).items() if v is not None}
    r = system.call("POST", "/api/v1/patrols", WORKER, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field, r.text


def test_walks_ending_before_they_start_or_in_the_future_are_refused(system):
    now = system.clock.now()
    backwards = dict(_walk(now), ended_at=(now - timedelta(hours=3)).isoformat())
    future = dict(_walk(now), ended_at=(now + timedelta(hours=2)).isoformat())
    for body, code in ((backwards, "invalid_value"), (future, "in_future")):
        r = system.call("POST", "/api/v1/patrols", WORKER, json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
        assert r.json()["error"]["field"] == "ended_at"


def test_a_retried_post_records_one_walk(system):
    body = _walk(system.clock.now(), note="重试 " + uuid.uuid4().hex)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = system.call("POST", "/api/v1/patrols", WORKER, json=body, headers=dict(key))
    again = system.call("POST", "/api/v1/patrols", WORKER, json=body, headers=dict(key))
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["patrol_id"] == again.json()["patrol_id"]
    listed = system.call("GET", f"/api/v1/patrols?grid={VILLAGE}&limit=1000", WORKER).json()
    assert [p["note"] for p in listed].count(body["note"]) == 1
    other = system.call("POST", "/api/v1/patrols", WORKER, json=body)
    assert other.json()["patrol_id"] != first.json()["patrol_id"]
