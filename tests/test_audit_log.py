"""The audit log read endpoint (审计日志): supervisors and administrators see who read or changed
what in their region, filtered by actor, record and time; a neighbouring county's liaison
reading a shared case is in it; no complainant data ever is."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.casework import COUNTY, OTHER_COUNTY, get_case, new_phone, utc
from tests.fixtures import wait_for

# 芦溪县, ~3 km from 湘东区 (within the PX-COUNTIES agreement's sharing distance), and a
# category no other test files there, so no other test's case is merged into this one.
NEAR_BORDER = (114.03, 27.44)
CATEGORY = "ecology"


def audit(system, account, **query):
    r = system.call("GET", "/api/v1/audit", account, params=query)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def case(system):
    """A 芦溪县 hotline case near the border with 湘东区, accepted (so it is shared with the
    neighbour), with a known complainant."""
    phone, name = new_phone(), "审计" + uuid.uuid4().hex[:6]
    r = system.call("POST", "/api/v1/intake", f"intake-{COUNTY}", json={
        "channel": "hotline", "category": CATEGORY, "lon": NEAR_BORDER[0],
        "lat": NEAR_BORDER[1], "description": "河边排污 " + uuid.uuid4().hex,
        "complainant": {"name": name, "phone": phone}})
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    r = system.call("POST", f"/api/v1/cases/{case_no}/accept", f"intake-{COUNTY}", json={})
    assert r.status_code == 200, r.text
    return {"case_no": case_no, "phone": phone, "name": name}


def test_who_read_and_changed_a_case(system, case):
    before = system.clock.now()
    assert system.call("GET", f"/api/v1/cases/{case['case_no']}",
                       f"dispatcher-{COUNTY}").status_code == 200
    entries = audit(system, f"supervisor-{COUNTY}", record=case["case_no"])
    seen = {(e["account_id"], e["route"], e["status"]) for e in entries}
    assert (f"intake-{COUNTY}", "accept_case", 200) in seen
    assert (f"dispatcher-{COUNTY}", "get_case", 200) in seen
    read = next(e for e in entries if e["route"] == "get_case")
    assert read["method"] == "GET" and read["region_code"] == COUNTY
    assert read["target"] == {"case_no": case["case_no"]} and read["scope"] == COUNTY
    assert utc(read["at"]) >= before - timedelta(seconds=1)
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)


def test_filters_by_actor_and_time(system, case):
    actor = f"enforcement-{COUNTY}"
    start = system.clock.now()
    system.clock.advance(minutes=5)
    try:
        assert system.call("GET", f"/api/v1/cases/{case['case_no']}", actor).status_code == 200
    finally:
        system.clock.set(start)
    mine = audit(system, "admin", actor=actor)
    assert mine and {e["account_id"] for e in mine} == {actor}
    window = {"since": (start + timedelta(minutes=4)).isoformat(),
              "until": (start + timedelta(minutes=6)).isoformat()}
    inside = audit(system, "admin", actor=actor, record=case["case_no"], **window)
    assert [(e["route"], e["status"]) for e in inside] == [("get_case", 200)]
    assert audit(system, "admin", actor=actor, record=case["case_no"],
                 until=(start + timedelta(minutes=4)).isoformat()) == []
    assert len(audit(system, "admin", limit=1)) == 1


def test_liaison_reads_of_a_shared_case_are_in_the_owners_log(system, case):
    liaison = f"liaison-{OTHER_COUNTY}"
    path = f"/api/v1/joint/cases/{case['case_no']}"
    wait_for(lambda: system.call("GET", path, liaison).status_code == 200,
             message="the case shared with the neighbour")
    entries = audit(system, f"supervisor-{COUNTY}", record=case["case_no"], actor=liaison)
    assert entries and entries[0]["route"] == "shared_case" and entries[0]["status"] == 200
    assert entries[0]["scope"] == OTHER_COUNTY and entries[0]["region_code"] == COUNTY
    # The neighbour's own supervisor sees what their officer did, too.
    theirs = audit(system, f"supervisor-{OTHER_COUNTY}", actor=liaison, record=case["case_no"])
    assert [e["id"] for e in theirs] == [e["id"] for e in entries]


def test_scoped_to_the_readers_region(system, case):
    # An outsider probes the case: refused, and logged for the outsider's own supervisor.
    outsider = f"intake-{OTHER_COUNTY}"
    assert system.call("GET", f"/api/v1/cases/{case['case_no']}", outsider).status_code == 404
    theirs = audit(system, f"supervisor-{OTHER_COUNTY}", record=case["case_no"])
    assert theirs and {e["scope"] for e in theirs} == {OTHER_COUNTY}
    assert {e["account_id"] for e in theirs} <= {outsider, f"liaison-{OTHER_COUNTY}"}
    assert all(e["status"] in (200, 404) for e in theirs)
    # The county's own staff's entries stay out of the neighbour's view, unless the record is
    # the neighbour's (a case referred there, say).
    assert not [e for e in audit(system, f"supervisor-{OTHER_COUNTY}", limit=1000)
                if e["scope"] == COUNTY and not (e["region_code"] or "").startswith(OTHER_COUNTY)]
    # The city's supervisor sees the county; an administrator sees everything.
    city = audit(system, "supervisor-360300", record=case["case_no"])
    assert f"intake-{COUNTY}" in {e["account_id"] for e in city}
    assert f"intake-{COUNTY}" in {e["account_id"] for e in audit(
        system, "admin", record=case["case_no"])}


def test_never_shows_complainant_data(system, case):
    assert case["phone"] in system.call("GET", f"/api/v1/cases/{case['case_no']}",
                                        f"intake-{COUNTY}").text  # there to be leaked
    for account in ("admin", f"supervisor-{COUNTY}", "supervisor-360300"):
        text = system.call("GET", "/api/v1/audit", account, params={"limit": 1000}).text
        assert case["phone"] not in text and case["phone"][-8:] not in text
        assert case["name"] not in text
    assert get_case(system, case["case_no"])["complainant"]["name"] == case["name"]


@pytest.mark.parametrize("account", [f"dispatcher-{COUNTY}", f"intake-{COUNTY}",
                                     f"liaison-{COUNTY}", None])
def test_only_supervisors_and_administrators(system, account):
    r = system.call("GET", "/api/v1/audit", account)
    assert r.status_code == (401 if account is None else 403), r.text


@pytest.mark.parametrize("query,field,code", [
    ({"since": "yesterday"}, "since", "invalid_value"),
    ({"until": "9999-12-31T23:59:59-23:59"}, "until", "invalid_value"),
    ({"limit": "0"}, "limit", "out_of_range"),
    ({"limit": "many"}, "limit", "invalid_value"),
    ({"actor": "x" * 65}, "actor", "too_long"),
])
def test_bad_filters(system, query, field, code):
    r = system.call("GET", "/api/v1/audit", "admin", params=query)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field and r.json()["error"]["code"] == code
