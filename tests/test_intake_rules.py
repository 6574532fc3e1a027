"""The national intake rules end to end: repeats merge, incidents go straight on, letters keep
their postmark date, odd phone numbers are kept and flagged, never refused."""
from __future__ import annotations

import math
import random
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.fixtures import wait_for


def _complaint(system, **fields):
    body = {"category": "water.industrial", "description": "排污 " + uuid.uuid4().hex,
            "region_code": "360323", **fields}
    r = system.call("POST", "/api/v1/complaints", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_repeat_merges_into_the_open_case_and_is_counted(system):
    enterprise = "萍乡某造纸厂 " + uuid.uuid4().hex[:6]
    first = _complaint(system, enterprise=enterprise)
    second = _complaint(system, enterprise=enterprise.replace(" ", "  "))
    assert second["status"] == "merged" and second["merged_into"] == first["case_no"]
    original = system.call("GET", f"/api/v1/cases/{first['case_no']}", "intake-360323").json()
    assert original["repeat_count"] == 2
    assert "repeat_merged" in [h["action"] for h in original["history"]]
    # Another category at the same enterprise is a different problem: a case of its own.
    third = _complaint(system, enterprise=enterprise, category="noise.industrial")
    assert third["status"] == "received"


def test_sudden_incident_is_accepted_and_dispatched_at_once(system):
    case = _complaint(system, incident="sudden", grid_code="360323101001")
    assert case["status"] == "accepted" and case["priority"] == "urgent"
    wait_for(lambda: system.call("GET", f"/api/v1/cases/{case['case_no']}",
                                 "admin").json().get("task_id"), message="urgent task")


def test_letter_keeps_its_postmark_date(system):
    r = system.call("POST", "/api/v1/intake", "intake-360323", json={
        "channel": "letter", "category": "waste.solid", "description": "来信反映 " +
        uuid.uuid4().hex, "region_code": "360323", "postmarked_on": "2026-11-18"})
    assert r.status_code == 201, r.text
    assert r.json()["received_at"].startswith("2026-11-18")
    r = system.call("POST", "/api/v1/intake", "intake-360323", json={
        "channel": "letter", "category": "waste.solid", "description": "x",
        "region_code": "360323", "postmarked_on": "2099-01-01"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "postmarked_on"
    r = system.call("POST", "/api/v1/intake", "intake-360323", json={
        "channel": "letter", "category": "waste.solid", "description": "x",
        "region_code": "360323", "postmarked_on": "2026-02-30"})
    assert r.status_code == 422 and r.json()["error"] == {
        "code": "bad_date", "field": "postmarked_on",
        "message": "postmarked_on is not a date (YYYY-MM-DD): '2026-02-30'"}, r.text


def test_phone_numbers_are_kept_whatever_they_are(system):
    cases = {}
    for raw in ("0757-83331814", "400-810-8888", "83331814", "12369", "不详"):
        r = system.call("POST", "/api/v1/intake", "intake-360323", json={
            "channel": "hotline", "category": "noise.industrial",
            "description": "来电 " + uuid.uuid4().hex, "region_code": "360323",
            "complainant": {"phone": raw}})
        assert r.status_code == 201, r.text
        cases[raw] = r.json()["complainant"]
    assert cases["0757-83331814"]["phone_e164"] == "+8675783331814"
    assert cases["0757-83331814"]["phone_kind"] == "fixed_line"
    assert cases["400-810-8888"]["phone_kind"] == "shared_cost"
    assert cases["83331814"]["phone_flag"] == "possible_only"
    assert cases["12369"]["phone_kind"] == "service_short_number"
    assert cases["不详"]["phone"] == "不详" and cases["不详"]["phone_flag"] == "unparseable"


def test_anonymous_complaint_is_accepted_without_identity(system):
    case = _complaint(system, complainant={"anonymous": True, "name": "不会保存",
                                           "phone": "13800000000"})
    view = system.call("GET", f"/api/v1/cases/{case['case_no']}", "intake-360323").json()
    assert view["complainant"]["name"] is None


def test_referral_lands_in_the_other_county_for_its_acceptance(system):
    case = _complaint(system, description="上栗县境内排污 " + uuid.uuid4().hex)
    no = case["case_no"]
    r = system.call("POST", f"/api/v1/cases/{no}/refer", "intake-360323",
                    json={"to_region": "360322", "reason": "发生地在上栗县"})
    assert r.status_code == 200, r.text
    # The sender no longer holds it; the receiving county's intake sees it and decides.
    assert system.call("GET", f"/api/v1/cases/{no}", "intake-360323").status_code == 404
    view = system.call("GET", f"/api/v1/cases/{no}", "intake-360322").json()
    assert view["status"] == "received" and view["region_code"] == "360322"
    assert [h for h in view["history"] if h["action"] == "referred"][0]["detail"][
        "from_region"] == "360323"
    r = system.call("POST", f"/api/v1/cases/{no}/accept", "intake-360322", json={})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    # Dispatched there: the receiving county works the task, the sending county cannot see it.
    task_id = wait_for(lambda: system.call("GET", f"/api/v1/cases/{no}", "admin").json().get(
        "task_id"), message="task in the receiving county")
    task = system.call("GET", f"/api/v1/tasks/{task_id}", "dispatcher-360322")
    assert task.status_code == 200 and task.json()["region_code"].startswith("360322")
    assert system.call("GET", f"/api/v1/tasks/{task_id}", "dispatcher-360323").status_code == 404
    # The receiving desk is told in-app.
    wait_for(lambda: [m for m in system.call("GET", "/api/v1/messages", "intake-360322").json()
                      if m["case_no"] == no], message="referral message")


def test_monitoring_exceedance_opens_one_case_however_many_readings(system):
    enterprise = "萍乡某钢铁有限公司 " + uuid.uuid4().hex[:6]

    def reading(hour, value):
        return system.call("POST", "/api/v1/monitoring/readings", "monitor-360300", json={
            "enterprise": enterprise, "outlet": "DA001", "pollutant": "SO2",
            "hour": f"2026-11-23T{hour:02d}:00:00+08:00", "value": value, "limit": 200,
            "unit": "mg/m3", "region_code": "360323", "lat": 27.62, "lon": 114.11})
    assert reading(1, 150).json() == {"exceedance": False, "case_no": None, "duplicate": False}
    first = reading(2, 260).json()
    assert first["exceedance"] and first["case_no"]
    for hour in (3, 4, 5):
        assert reading(hour, 300).json()["case_no"] == first["case_no"]
    assert reading(5, 300).json()["duplicate"] is True  # the feed resends an hour
    case = system.call("GET", f"/api/v1/cases/{first['case_no']}", "admin").json()
    assert case["channel"] == "monitoring" and case["category"] == "air.industrial"
    assert case["repeat_count"] == 4
    assert [h["action"] for h in case["history"]].count("exceedance") == 3
    # Accepted on receipt (monitoring is an auto-accept channel) and dispatched.
    wait_for(lambda: system.call("GET", f"/api/v1/cases/{first['case_no']}",
                                 "admin").json().get("task_id"), message="task for exceedance")
    r = system.call("POST", "/api/v1/monitoring/readings", "monitor-360300", json={
        "enterprise": enterprise, "outlet": "DA001", "pollutant": "SO2", "hour": "yesterday",
        "value": 1, "limit": 2, "region_code": "360323"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "hour"


def test_a_burst_of_exceedances_opens_one_case(system):
    """Readings of many hours arriving at once (a feed catching up after an outage) still open
    exactly one case, every reading counted on it."""
    enterprise = "萍乡某焦化有限公司 " + uuid.uuid4().hex[:6]
    hours = range(1, 13)

    def reading(hour):
        return system.call("POST", "/api/v1/monitoring/readings", "monitor-360300", json={
            "enterprise": enterprise, "outlet": "DA002", "pollutant": "NOx",
            "hour": f"2026-11-22T{hour:02d}:00:00+08:00", "value": 300 + hour, "limit": 200,
            "region_code": "360323"})
    with ThreadPoolExecutor(len(hours)) as pool:
        answers = list(pool.map(reading, hours))
    assert all(r.status_code == 202 for r in answers), [r.text for r in answers]
    numbers = {r.json()["case_no"] for r in answers}
    assert len(numbers) == 1, numbers
    case = system.call("GET", f"/api/v1/cases/{numbers.pop()}", "admin").json()
    assert case["repeat_count"] == len(hours)
    assert [h["action"] for h in case["history"]].count("exceedance") == len(hours) - 1


def test_simultaneous_repeats_merge_into_one_case(system):
    """The same problem reported through several channels in the same second: one case."""
    enterprise = "萍乡某陶瓷厂 " + uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _complaint(system, enterprise=enterprise), range(6)))
    opened = [a for a in answers if a["status"] == "received"]
    assert len(opened) == 1, answers
    assert {a["merged_into"] for a in answers if a["status"] == "merged"} == {
        opened[0]["case_no"]}
    original = system.call("GET", f"/api/v1/cases/{opened[0]['case_no']}", "admin").json()
    assert original["repeat_count"] == 6


def test_simultaneous_repeats_by_point_merge_across_lock_cells(system):
    """Ten reports of one odour, tens of metres apart, around a point where the intake-lock
    blocks change (each report locks a different 2 x 2 block of cells, overlapping the
    others'): they still take turns, and make one case."""
    from services.complaints import domain
    rng = random.Random(uuid.uuid4().int)
    cell_lat, cell_lon = domain._LOCK_CELL
    centre = ((round(rng.uniform(27.45, 27.7) / cell_lat) + 0.5) * cell_lat,
              (round(rng.uniform(114.05, 114.25) / cell_lon) + 0.5) * cell_lon)
    spots = [(centre[0] + 0.0003 * math.sin(a), centre[1] + 0.0003 * math.cos(a))
             for a in (2 * math.pi * i / 10 for i in range(10))]
    with ThreadPoolExecutor(len(spots)) as pool:
        answers = list(pool.map(lambda spot: _complaint(
            system, category="air.odour", lat=spot[0], lon=spot[1]), spots))
    opened = [a for a in answers if a["status"] == "received"]
    assert len(opened) == 1, answers
    original = system.call("GET", f"/api/v1/cases/{opened[0]['case_no']}", "admin").json()
    assert original["repeat_count"] == len(spots)


def test_a_retry_sent_before_the_answer_gets_the_same_case(system):
    """A client that gives up waiting and sends again with the same Idempotency-Key while the
    first request is still being handled: every answer is the one case, none an error."""
    key = "retry-" + uuid.uuid4().hex
    body = {"category": "noise.industrial", "description": "夜间噪声 " + key,
            "region_code": "360323", "grid_code": "360323101001"}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: system.call(
            "POST", "/api/v1/complaints", json=body, headers={
                "Idempotency-Key": key, "X-Forwarded-For": "one-client"}), range(6)))
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert len({a.json()["case_no"] for a in answers}) == 1
