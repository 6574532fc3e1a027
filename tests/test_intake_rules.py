"""The national intake rules end to end: repeats merge, incidents go straight on, letters keep
their postmark date, odd phone numbers are kept and flagged, never refused."""
from __future__ import annotations

import uuid

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
