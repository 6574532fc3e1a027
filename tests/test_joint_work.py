"""Joint work under linkage agreements (左右联动) through the public API, against real RabbitMQ
and PostgreSQL: consultations scheduled by the roster's host (or on a party's request) with an
agenda from the shared cases, held with minutes and attendees; joint operations whose findings
are credited where found (交叉执法); cases shared along a river; the evaluation agreeing with
ranking's read model; rosters of three parties kept fair through swaps, leaving and joining;
neighbours proposed from grid boundaries; and no endpoint showing a neighbour a case outside
the agreement.

Demo map (``infra/demo/pingxiang.py``): 芦溪县 360323 east, 湘东区 360313 west and a strip along
the south to lon 114.00, 莲花县 360321 south of both (border lat 27.40), 安源区 360302 in the
middle, 上栗县 360322 north. 萍水河 (``infra/config/rivers.yaml``) runs west from 芦溪县 at lat
~27.685 through 安源区 and 湘东区 into 醴陵市 (Hunan), where it is called 渌水.
"""
from __future__ import annotations

import json

import re
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import psycopg2
import pytest

from services.gateway.api import ROUTES
from tests.casework import get_case, get_task, new_phone
from tests.fixtures import wait_for

PX = "PX-COUNTIES"
LUXI, XIANGDONG, LIANHUA, SHANGLI, ANYUAN = "360323", "360313", "360321", "360322", "360302"
HUNAN = {"430281": "醴陵市", "430223": "攸县", "430181": "浏阳市"}
# Cases of one category within 200 m of an open one are merged as repeats: every case below
# has a point of its own (test_joint_flow uses (114.02, 27.48), (114.01, 27.50), (114.15, 27.60)).
FAR_LUXI = (114.20, 27.56)         # 芦溪县, > 10 km from every other county and the river
FOUND_LUXI = (114.16, 27.58)       # 芦溪县, > 10 km from every other county and the river
BORDER_LIANHUA = (113.93, 27.385)  # 莲花县, 1.7 km from 湘东区, 7 km from 芦溪县
ON_RIVER_ANYUAN = (113.93, 27.649)  # 安源区, on 萍水河, 7 km from any other county
INLAND_XIANGDONG = [(113.70, 27.70), (113.72, 27.68), (113.70, 27.66)]  # 湘东区, > 5 km
#                                    from Hunan and 上栗县, > 7 km from the river
PX_PARTIES = [ANYUAN, XIANGDONG, LIANHUA, SHANGLI, LUXI]


@pytest.fixture
def clock(system):
    start = system.clock.now()
    yield system.clock
    system.clock.set(start)


def _file(system, lonlat, county, *, river=None, accept=True, people=None):
    """A hotline case at a point, entered (and accepted) by the county's intake; its task
    (accepted) or its number. The desk names its county: left to the gateway, the county comes
    from a look-up of the point that gives up after 2 s (the case then goes to the city's
    desk), which a busy moment of the in-process test system can reach. Dispatch still routes
    the task by the point, and that must land in the county."""
    people = people or {"name": "举报人" + uuid.uuid4().hex[:6], "phone": new_phone()}
    body = {"channel": "hotline", "category": "water.industrial", "lon": lonlat[0],
            "lat": lonlat[1], "address": "测试地址", "region_code": county,
            "description": f"{people['name']}反映排污 {uuid.uuid4().hex}",
            "complainant": dict(people)}
    if river:
        body["river"] = river
    r = system.call("POST", "/api/v1/intake", f"intake-{county}", json=body)
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    assert r.json()["region_code"] == county, r.json()
    if not accept:
        return case_no
    r = system.call("POST", f"/api/v1/cases/{case_no}/accept", f"intake-{county}", json={})
    assert r.status_code == 200, r.text
    case = wait_for(lambda: get_case(system, case_no).get("task_id") and
                    get_case(system, case_no), message=f"task for {case_no}")
    task = get_task(system, case["task_id"])
    assert (task["region_code"], task["routed_by"]) == (county, "point"), task
    return task


def _outbox(system, event_type, **match):
    conn = psycopg2.connect(system.databases["dispatch"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT payload FROM outbox WHERE event_type = %s ORDER BY id",
                        (event_type,))
            return [p for (p,) in cur.fetchall()
                    if all(p.get(k) == v for k, v in match.items())]
    finally:
        conn.close()


def _shared_with(system, case_no):
    return {(e["agreement_id"], e["partner_region"], e["reason"])
            for e in _outbox(system, "case_shared", case_no=case_no)}


def _host_on(system, agreement, day: date) -> str:
    r = system.call("GET", f"/api/v1/joint/agreements/{agreement}/roster?start={day}&end={day}",
                    "admin")
    assert r.status_code == 200, r.text
    [term] = r.json()["terms"]
    return term["host_region"]


def _local_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=timezone.utc)  # 12:00 +08:00


def _no_personal_data(text, people):
    assert people["name"] not in text
    assert people["phone"] not in text and people["phone"][-8:] not in text


# --- demo and neighbours --------------------------------------------------------------------
def test_demo_has_pingxiang_counties_and_the_hunan_neighbours(system):
    agreements = {a["id"]: a for a in system.call("GET", "/api/v1/joint/agreements",
                                                  "admin").json()}
    assert [p["region_code"] for p in agreements[PX]["parties"]] == PX_PARTIES
    border = agreements["XIANGGAN-BORDER"]
    assert {p["region_code"]: p["name"] for p in border["parties"]} == {
        "360300": "萍乡市", **HUNAN}
    for code, name in HUNAN.items():
        r = system.call("GET", f"/api/v1/grids/{code}", "admin")
        assert r.status_code == 200 and r.json()["name"] == name
        assert [a["id"] for a in system.call("GET", "/api/v1/joint/agreements",
                                             f"liaison-{code}").json()] == ["XIANGGAN-BORDER"]


def _demo(proposals: list[dict]) -> list[dict]:
    """Proposals among the demo's Jiangxi and Hunan regions (other tests import synthetic
    counties into the same registry)."""
    return [p for p in proposals if all(code[:2] in ("36", "43") for code in p["regions"])]


def test_neighbours_sharing_an_edge_are_proposed_as_agreements(system):
    # In the demo every pair of regions sharing an edge is already under an agreement.
    r = system.call("GET", "/api/v1/joint/proposals", "admin")
    assert r.status_code == 200 and _demo(r.json()) == [], r.text

    # 攸县 leaves 湘赣边 at the end of 2027: from then, its neighbours are proposed: 湘东区 and
    # 莲花县 (edges along lat 27.40 and lon 113.80) and 醴陵市 (lat 27.40); 浏阳市 only touches
    # nothing of it.
    r = system.call("POST", "/api/v1/joint/agreements/XIANGGAN-BORDER/parties/430223/leave",
                    "admin", json={"left": "2028-01-01"})
    assert r.status_code == 200, r.text
    assert _demo(system.call("GET", "/api/v1/joint/proposals", "admin").json()) == []
    r = system.call("GET", "/api/v1/joint/proposals?on=2028-01-01", "admin")
    proposed = {tuple(p["regions"]): p for p in _demo(r.json())}
    assert set(proposed) == {(XIANGDONG, "430223"), (LIANHUA, "430223"), ("430223", "430281")}
    draft = proposed[("430223", "430281")]["draft"]
    assert [p["name"] for p in draft["parties"]] == ["攸县", "醴陵市"]
    assert draft["start"] == "2028-01-01" and draft["scope"]["buffer_km"] == 5
    # A county sees the proposals of its own region only.
    r = system.call("GET", "/api/v1/joint/proposals?on=2028-01-01", f"supervisor-{LIANHUA}")
    assert [tuple(p["regions"]) for p in r.json()] == [(LIANHUA, "430223")]

    # The pair signs: the draft, completed, becomes an agreement and is no longer proposed.
    draft["parties"][0]["liaisons"] = [{"id": "ll-430223-9", "name": "谭一",
                                        "phone": "13800000001"}]
    r = system.call("POST", "/api/v1/joint/agreements", "admin", json=draft)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "430223-430281"
    again = system.call("POST", "/api/v1/joint/agreements", "admin", json=draft)
    assert again.status_code == 409 and again.json()["error"]["code"] == "agreement_exists"
    r = system.call("GET", "/api/v1/joint/proposals?on=2028-01-01", "admin")
    assert {tuple(p["regions"]) for p in _demo(r.json())} == {(XIANGDONG, "430223"),
                                                              (LIANHUA, "430223")}
    bad = dict(draft, id="BAD-NESTED", parties=[dict(draft["parties"][0], region_code="360300"),
                                                dict(draft["parties"][1], region_code="360323")])
    r = system.call("POST", "/api/v1/joint/agreements", "admin", json=bad)
    assert r.status_code == 422 and r.json()["error"]["code"] == "nested_parties", r.text


# --- rosters: three parties, swaps, leaving and joining ---------------------------------------
def _agreement(system, agreement_id, parties, start="2029-01-01"):
    body = {"id": agreement_id, "name": f"测试协议{agreement_id}", "period": "quarter",
            "start": start, "scope": {"categories": [], "buffer_km": 0},
            "parties": [{"region_code": code, "name": code, "joined": start,
                         "liaisons": []} for code in parties]}
    r = system.call("POST", "/api/v1/joint/agreements", "admin", json=body)
    assert r.status_code == 201, r.text


def _terms(system, agreement_id, start="2029-01-01", end="2030-12-31"):
    r = system.call("GET", f"/api/v1/joint/agreements/{agreement_id}/roster?start={start}"
                           f"&end={end}", "admin")
    assert r.status_code == 200, r.text
    return r.json()["terms"]


def test_three_parties_two_years_equal_terms_and_a_recorded_swap(system):
    # Starts in 2029, so it shares no case with anybody while the other tests run.
    ag = "TEST-NORTH-" + uuid.uuid4().hex[:6]
    _agreement(system, ag, [SHANGLI, ANYUAN, XIANGDONG])
    terms = _terms(system, ag)
    assert len(terms) == 8
    counts = Counter(t["host_region"] for t in terms)
    assert set(counts) == {SHANGLI, ANYUAN, XIANGDONG}
    assert max(counts.values()) - min(counts.values()) <= 1
    hosts = [t["host_region"] for t in terms]
    assert all(a != b for a, b in zip(hosts, hosts[1:]))  # each in turn

    first = terms[0]
    other = next(h for h in hosts[1:] if h != first["host_region"])
    j = hosts.index(other)
    r = system.call("POST", f"/api/v1/joint/agreements/{ag}/swaps",
                    f"supervisor-{first['host_region']}",
                    json={"period_start": first["period_start"], "a": first["host_region"],
                          "b": other, "reason": "轮值期内迎接中央环保督察"})
    assert r.status_code == 201, r.text
    after = _terms(system, ag)
    swapped = [t["host_region"] for t in after]
    assert swapped[0] == other and swapped[j] == first["host_region"]
    assert [h for i, h in enumerate(swapped) if i not in (0, j)] == [
        h for i, h in enumerate(hosts) if i not in (0, j)]
    assert Counter(swapped) == counts
    assert after[0]["swap"]["reason"] == "轮值期内迎接中央环保督察"

    # A party may not leave while a swap still gives it a later term.
    r = system.call("POST", f"/api/v1/joint/agreements/{ag}/parties/{first['host_region']}/leave",
                    f"supervisor-{first['host_region']}",
                    json={"left": after[1]["period_start"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "swap_conflict", r.text
    assert _terms(system, ag) == after

    r = system.call("GET", f"/api/v1/joint/agreements/{ag}/roster.ics?start=2029-01-01"
                           "&end=2030-12-31", f"liaison-{SHANGLI}")
    assert r.status_code == 200 and r.text.count("BEGIN:VEVENT") >= len(after)


def test_roster_survives_a_party_leaving_and_one_joining_mid_year(system):
    ag = "TEST-SOUTH-" + uuid.uuid4().hex[:6]
    _agreement(system, ag, [LIANHUA, LUXI, XIANGDONG])
    before = _terms(system, ag)
    base = f"/api/v1/joint/agreements/{ag}"

    # Checks first: another county may not make 莲花县 leave; nor may it leave in the past or
    # leave too few parties.
    r = system.call("POST", f"{base}/parties/{LIANHUA}/leave", f"supervisor-{LUXI}",
                    json={"left": "2029-05-15"})
    assert r.status_code == 404, r.text
    r = system.call("POST", f"{base}/parties/{LIANHUA}/leave", f"supervisor-{LIANHUA}",
                    json={"left": "2020-01-01"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_date", r.text

    # 莲花县 leaves mid-term (15 May 2029): the term it is in stays as it was; from the next,
    # the other two host in turn.
    r = system.call("POST", f"{base}/parties/{LIANHUA}/leave", f"supervisor-{LIANHUA}",
                    json={"left": "2029-05-15"})
    assert r.status_code == 200, r.text
    after_leave = _terms(system, ag)
    assert [t for t in after_leave if t["period_start"] < "2029-05-15"] == [
        t for t in before if t["period_start"] < "2029-05-15"]
    later = [t["host_region"] for t in after_leave if t["period_start"] >= "2029-05-15"]
    assert LIANHUA not in later and set(later) == {LUXI, XIANGDONG}
    assert all(a != b for a, b in zip(later, later[1:]))
    r = system.call("POST", f"{base}/parties/{LUXI}/leave", f"supervisor-{LUXI}",
                    json={"left": "2029-06-01"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "too_few_parties", r.text

    # 安源区 joins mid-year (15 Aug 2029): it enters the rotation at the back from the first
    # term starting after that day, and over the next year the three host equally.
    r = system.call("POST", f"{base}/parties", "admin", json={
        "region_code": ANYUAN, "name": "安源区", "joined": "2029-08-15",
        "liaisons": [{"id": "ll-360302-1", "name": "刘建华", "phone": "13907991024"}]})
    assert r.status_code == 201, r.text
    again = system.call("POST", f"{base}/parties", "admin", json={
        "region_code": ANYUAN, "name": "安源区", "joined": "2029-09-01"})
    assert again.status_code == 409, again.text
    joined = _terms(system, ag, "2029-01-01", "2031-06-30")
    assert [t for t in joined if t["period_start"] < "2029-08-15"] == [
        t for t in after_leave if t["period_start"] < "2029-08-15"]
    assert ANYUAN not in [t["host_region"] for t in joined if t["period_start"] < "2029-10-01"]
    after_joining = [t["host_region"] for t in joined if t["period_start"] >= "2029-10-01"]
    assert ANYUAN in after_joining[:3]  # at the back of the queue of three
    year = Counter(t["host_region"] for t in joined if "2030-01-01" <= t["period_start"]
                   <= "2031-06-30")
    assert set(year) == {LUXI, XIANGDONG, ANYUAN}
    assert max(year.values()) - min(year.values()) <= 1
    listed = {a["id"]: a for a in system.call("GET", "/api/v1/joint/agreements",
                                              "admin").json()}
    assert {p["region_code"]: p["left"] for p in listed[ag]["parties"]}[LIANHUA] == "2029-05-15"


# --- shared rivers ------------------------------------------------------------------------------
def test_a_case_on_a_shared_river_is_shared_along_it(system):
    # Named at intake: a case in 湘东区 far from any border, on 萍水河, reaches the river's
    # other parties (芦溪县, 安源区; and 醴陵市 downstream under 湘赣边) but not the rest.
    people = {"name": "河边" + uuid.uuid4().hex[:6], "phone": new_phone()}
    named = _file(system, INLAND_XIANGDONG[0], XIANGDONG, river="萍水河", people=people)
    assert get_case(system, named["case_no"])["river"] == "萍水河"
    assert _shared_with(system, named["case_no"]) == {
        (PX, LUXI, "river"), (PX, ANYUAN, "river"), ("XIANGGAN-BORDER", "430281", "river")}
    r = system.call("GET", f"/api/v1/joint/cases/{named['case_no']}", f"liaison-{LUXI}")
    assert r.status_code == 200 and r.json()["shared"][0]["reason"] == "river", r.text
    _no_personal_data(r.text, people)
    for account in (f"liaison-{SHANGLI}", f"liaison-{LIANHUA}", "liaison-430223"):
        assert system.call("GET", f"/api/v1/joint/cases/{named['case_no']}",
                           account).status_code == 404

    # Derived from the location: a point on the river line in 安源区 names no river.
    derived = _file(system, ON_RIVER_ANYUAN, ANYUAN)
    assert get_case(system, derived["case_no"])["river"] == "萍水河"
    assert {(a, p) for a, p, reason in _shared_with(system, derived["case_no"])
            if reason == "river"} == {(PX, LUXI), (PX, XIANGDONG),
                                      ("XIANGGAN-BORDER", "430281")}
    # The same place with another river named (or none derivable) is not shared.
    other = _file(system, INLAND_XIANGDONG[1], XIANGDONG, river="袁河")
    assert _shared_with(system, other["case_no"]) == set()
    plain = _file(system, INLAND_XIANGDONG[2], XIANGDONG)
    assert get_case(system, plain["case_no"])["river"] is None
    assert _shared_with(system, plain["case_no"]) == set()


# --- consultations ------------------------------------------------------------------------------
def test_consultations_by_the_host_with_an_agenda_from_the_shared_cases(system, clock):
    people = {"name": "会商" + uuid.uuid4().hex[:6], "phone": new_phone()}
    # 芦溪县 cases 2-3 km from 湘东区, shared with it.
    overdue = _file(system, (114.03, 27.46), LUXI, people=people)
    t1 = clock.advance(days=40)   # its deadline has passed
    still_open = _file(system, (114.02, 27.43), LUXI, people=people)
    waiting = _file(system, (114.025, 27.53), LUXI, people=people)
    r = system.call("POST", "/api/v1/joint/transfers", f"dispatcher-{LUXI}", json={
        "case_no": waiting["case_no"], "to_region": XIANGDONG, "reason": "污染源在湘东区一侧"})
    assert r.status_code == 201, r.text
    today = (t1 + timedelta(hours=8)).date()
    day = today + timedelta(days=2)
    host = _host_on(system, PX, day)
    guest = next(c for c in (LUXI, XIANGDONG) if c != host)
    base = f"/api/v1/joint/agreements/{PX}/consultations"

    # A regular consultation is the host's to schedule; another party may request one.
    r = system.call("POST", base, f"liaison-{guest}", json={"date": day.isoformat()})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_host", r.text
    r = system.call("POST", base, f"liaison-{guest}",
                    json={"date": day.isoformat(), "kind": "requested"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "topic", r.text
    r = system.call("POST", base, f"liaison-{guest}", json={
        "date": day.isoformat(), "kind": "requested", "topic": "萍水河跨界排污联合处置"})
    assert r.status_code == 201, r.text
    requested = r.json()
    assert (requested["kind"], requested["host_region"], requested["requested_by"]) == (
        "requested", host, guest)
    r = system.call("POST", base, f"liaison-{host}",
                    json={"date": (today - timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and r.json()["error"]["code"] == "in_the_past", r.text
    r = system.call("POST", base, f"liaison-{host}", json={"date": ""})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_date", r.text
    assert system.call("POST", base, "liaison-430281",
                       json={"date": day.isoformat()}).status_code == 404
    r = system.call("POST", base, f"liaison-{host}", json={"date": day.isoformat()})
    assert r.status_code == 201, r.text
    meeting = r.json()
    assert (meeting["kind"], meeting["host_region"], meeting["state"]) == (
        "regular", host, "planned")

    # The agenda: the transfer waiting for an answer, then overdue, then open shared cases.
    sections = {item["case_no"]: item["section"] for item in meeting["agenda"]}
    assert sections[waiting["case_no"]] == "transfer"
    assert sections[overdue["case_no"]] == "overdue"
    assert sections[still_open["case_no"]] == "open"
    order = [i["section"] for i in meeting["agenda"]]
    assert order == sorted(order, key=["transfer", "overdue", "open"].index)
    text = str(meeting)
    _no_personal_data(text, people)
    assert "description" not in text and "反映排污" not in text
    [event] = _outbox(system, "joint_consultation_scheduled", meeting_id=meeting["meeting_id"])
    assert event["host_region"] == host and event["agenda_items"] == len(meeting["agenda"])

    # Every party reads it, and reads of another region's cases are logged.
    r = system.call("GET", f"/api/v1/joint/consultations/{meeting['meeting_id']}",
                    f"liaison-{LIANHUA}")
    assert r.status_code == 200 and overdue["case_no"] in r.text
    log = system.call("GET", f"/api/v1/joint/access-log?case_no={overdue['case_no']}",
                      f"supervisor-{LUXI}").json()
    assert any(e["actor_id"] == f"liaison-{LIANHUA}" and e["action"] == "agenda" for e in log)
    assert system.call("GET", f"/api/v1/joint/consultations/{meeting['meeting_id']}",
                       "liaison-430223").status_code == 404

    # Held: recorded by the host on or after the day, with minutes and attendees by party.
    held = f"/api/v1/joint/consultations/{meeting['meeting_id']}/held"
    body = {"minutes": "通报三起共享案件进展，商定联合执法计划。",
            "attendees": [{"region_code": guest, "names": ["易国平"]},
                          {"region_code": host, "names": ["钟晓燕"]}]}
    r = system.call("POST", held, f"liaison-{host}", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_yet", r.text
    clock.set(_local_noon(day))
    r = system.call("POST", held, f"liaison-{guest}", json=body)
    assert r.status_code == 403, r.text
    r = system.call("POST", held, f"liaison-{host}",
                    json={"minutes": "只有主持方", "attendees": []})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_few_parties", r.text
    r = system.call("POST", held, f"liaison-{host}", json=dict(body, attendees=[
        {"region_code": "430281", "names": ["袁立新"]}]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_party", r.text
    r = system.call("POST", held, f"liaison-{host}", json=body)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "held" and done["minutes"] == body["minutes"]
    order = [p for p in PX_PARTIES if p in (host, guest)]
    assert [a["region_code"] for a in done["attendees"]] == order
    assert {a["region_code"]: a["names"] for a in done["attendees"]}[guest] == ["易国平"]
    assert system.call("POST", held, f"liaison-{host}", json=body).status_code == 409
    [event] = _outbox(system, "joint_consultation_held", meeting_id=meeting["meeting_id"])
    assert sorted(event["attendees"]) == sorted([host, guest])
    assert event["held_at"].startswith(day.isoformat())

    listed = system.call("GET", f"{base}?start={day}&end={day}", f"liaison-{guest}").json()
    assert {(m["meeting_id"], m["state"]) for m in listed} == {
        (meeting["meeting_id"], "held"), (requested["meeting_id"], "planned")}
    roster = system.call("GET", f"/api/v1/joint/agreements/{PX}/roster?start={day}&end={day}",
                         "admin").json()
    assert {(m["kind"], m["held"]) for m in roster["meetings"]} == {
        ("regular", True), ("requested", False)}


# --- joint operations and cross inspection --------------------------------------------------
def _region_figures(system, period, scope):
    r = system.call("GET", f"/api/v1/stats/regions?period={period}")
    assert r.status_code == 200, r.text
    return next((row["figures"] for row in r.json() if row["scope"] == scope), {})


def test_joint_operation_credits_the_cases_found_where_they_are_found(system, clock):
    now = clock.now()
    day = (now + timedelta(hours=8)).date() + timedelta(days=1)
    host = _host_on(system, PX, day)
    planner = next(c for c in PX_PARTIES if c != host)
    base = f"/api/v1/joint/agreements/{PX}/operations"
    team = [f"enforcement-{XIANGDONG}", f"enforcement-{LUXI}"]
    body = {"date": day.isoformat(), "title": "芦溪湘东交界涉水企业交叉检查", "officers": team}

    r = system.call("POST", base, f"dispatcher-{planner}", json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_host", r.text
    r = system.call("POST", base, f"dispatcher-{host}", json=dict(body, officers=team[:1]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_few_parties", r.text
    r = system.call("POST", base, f"dispatcher-{host}", json=dict(body, officers=team + ["nobody"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_officer", r.text
    r = system.call("POST", base, f"dispatcher-{host}", json=body)
    assert r.status_code == 201, r.text
    op = r.json()
    assert op["lead_region"] == host and op["state"] == "planned"
    assert {o["id"]: o["region_code"] for o in op["officers"]} == {
        f"enforcement-{XIANGDONG}": XIANGDONG, f"enforcement-{LUXI}": LUXI}
    assert set(op["parties"]) == {host, XIANGDONG, LUXI}
    findings = f"/api/v1/joint/operations/{op['operation_id']}/findings"
    report = {"category": "water.industrial", "description": "交叉检查发现暗管排污",
              "lon": FOUND_LUXI[0], "lat": FOUND_LUXI[1],
              "enterprise": "某化工厂" + uuid.uuid4().hex[:6]}
    r = system.call("POST", findings, f"enforcement-{XIANGDONG}", json=report)
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_yet", r.text

    clock.set(_local_noon(day))
    period = day.isoformat()
    patrols_before = {c: _region_figures(system, period, c).get("received_by_channel", {})
                      .get("patrol", 0) for c in (LUXI, XIANGDONG)}
    # Not in the team: as if the operation did not exist.
    assert system.call("POST", findings, f"enforcement-{ANYUAN}",
                       json=report).status_code == 404
    # Out of the parties' regions (醴陵市): refused before any case is filed.
    r = system.call("POST", findings, f"enforcement-{XIANGDONG}",
                    json=dict(report, lon=113.45, lat=27.60))
    assert r.status_code == 422 and r.json()["error"]["code"] == "outside_agreement", r.text

    # 湘东区's officer finds a case in 芦溪县: it is 芦溪县's case, and the operation shows who
    # found it and from where. A retry with the same key files nothing twice.
    key = {"Idempotency-Key": "finding-" + uuid.uuid4().hex}
    r = system.call("POST", findings, f"enforcement-{XIANGDONG}", json=report, headers=key)
    assert r.status_code == 201, r.text
    found = r.json()
    again = system.call("POST", findings, f"enforcement-{XIANGDONG}", json=report,
                        headers=dict(key))
    assert again.status_code == 201 and again.json() == found
    assert (found["region_code"], found["credited_region"], found["officer_id"],
            found["officer_region"]) == (LUXI, LUXI, f"enforcement-{XIANGDONG}", XIANGDONG)
    case = get_case(system, found["case_no"])
    assert (case["region_code"], case["channel"]) == (LUXI, "patrol")
    assert system.call("GET", f"/api/v1/cases/{found['case_no']}",
                       f"intake-{XIANGDONG}").status_code == 404
    # A number alone links only a case of the officer's own region.
    r = system.call("POST", findings, f"enforcement-{XIANGDONG}",
                    json={"case_no": found["case_no"]})
    assert r.status_code == 404, r.text
    r = system.call("POST", findings, f"enforcement-{LUXI}", json={"case_no": found["case_no"]})
    assert r.status_code == 201 and r.json() == found, r.text
    [event] = _outbox(system, "joint_case_found", case_no=found["case_no"])
    assert (event["region_code"], event["officer_region"]) == (LUXI, XIANGDONG)

    # Ranking counts the patrol case for 芦溪县, where it was found, not for 湘东区.
    wait_for(lambda: _region_figures(system, period, LUXI).get("received_by_channel", {})
             .get("patrol", 0) == patrols_before[LUXI] + 1, timeout=20,
             message="patrol case counted for 芦溪县")
    assert _region_figures(system, period, XIANGDONG).get("received_by_channel", {}).get(
        "patrol", 0) == patrols_before[XIANGDONG]

    # Once 芦溪县 accepts it, 湘东区 (the finding officer's party) follows it as shared.
    r = system.call("POST", f"/api/v1/cases/{found['case_no']}/accept", f"intake-{LUXI}",
                    json={})
    assert r.status_code == 200, r.text
    wait_for(lambda: system.call("GET", f"/api/v1/joint/cases/{found['case_no']}",
                                 f"liaison-{XIANGDONG}").status_code == 200,
             message="shared with the finding officer's party")
    assert (PX, XIANGDONG, "operation") in _shared_with(system, found["case_no"])

    view = system.call("GET", f"/api/v1/joint/operations/{op['operation_id']}",
                       f"enforcement-{XIANGDONG}").json()
    assert view["findings_count"] == 1 and view["findings"][0]["case_no"] == found["case_no"]

    # Reported done by the lead: it counts for every party that took part.
    before = system.call("GET", f"/api/v1/joint/agreements/{PX}/evaluation?start={day}"
                                f"&end={day}", "admin").json()
    assert system.call("POST", f"/api/v1/joint/operations/{op['operation_id']}/report",
                       f"dispatcher-{planner}", json={"summary": "x"}).status_code == 403
    r = system.call("POST", f"/api/v1/joint/operations/{op['operation_id']}/report",
                    f"dispatcher-{host}", json={"summary": "检查企业6家，发现问题1个"})
    assert r.status_code == 200 and r.json()["state"] == "done", r.text
    assert system.call("POST", f"/api/v1/joint/operations/{op['operation_id']}/report",
                       f"dispatcher-{host}", json={"summary": "again"}).status_code == 409
    after = system.call("GET", f"/api/v1/joint/agreements/{PX}/evaluation?start={day}"
                               f"&end={day}", "admin").json()
    moved = {p["region_code"]: p["joint_operations"] for p in after["parties"]}
    was = {p["region_code"]: p["joint_operations"] for p in before["parties"]}
    assert {c for c in moved if moved[c] == was[c] + 1} == {host, XIANGDONG, LUXI}
    [done] = _outbox(system, "joint_operation_done", operation_id=op["operation_id"])
    assert set(done["parties"]) == {host, XIANGDONG, LUXI} and done["findings"] == 1


# --- evaluation and ranking agree ---------------------------------------------------------------
JOINT_FIGURES = {  # evaluation name -> ranking figure
    "transfers_received": "transfers_received", "answered_on_time": "transfers_on_time",
    "consultations_held": "consultations_held",
    "consultations_attended": "consultations_attended",
    "joint_operations": "joint_operations", "shared_cases_closed": "shared_cases_closed"}


def _both(system, month: str, start: date, end: date):
    r = system.call("GET", f"/api/v1/joint/agreements/{PX}/evaluation?start={start}&end={end}",
                    "admin")
    assert r.status_code == 200, r.text
    evaluation = {p["region_code"]: p for p in r.json()["parties"]}
    ours = {code: {k: evaluation[code][k] for k in JOINT_FIGURES} for code in PX_PARTIES}
    for code in PX_PARTIES:
        ours[code]["answered"] = (evaluation[code]["answered_on_time"]
                                  + evaluation[code]["answered_late"])
    ranking = {}
    for code in PX_PARTIES:
        f = _region_figures(system, month, code)
        ranking[code] = {k: f.get(v, 0) for k, v in JOINT_FIGURES.items()}
        ranking[code]["answered"] = f.get("transfers_answered", 0)
    return ours, ranking


def test_evaluation_figures_agree_with_ranking(system, clock):
    """A month of linkage work (March 2027: no other test works in it) between 莲花县, 湘东区,
    上栗县 and the host of the term; the evaluation of that month and ranking's read model of
    it give the same figures for every party."""
    start, end = date(2027, 3, 1), date(2027, 3, 31)
    clock.set(_local_noon(date(2027, 3, 2)))
    host = _host_on(system, PX, date(2027, 3, 20))
    task = _file(system, BORDER_LIANHUA, LIANHUA)
    assert (PX, XIANGDONG, "border") in _shared_with(system, task["case_no"])
    send = lambda to, kind: system.call("POST", "/api/v1/joint/transfers",  # noqa: E731
                                        f"dispatcher-{LIANHUA}", json={
                                            "case_no": task["case_no"], "to_region": to,
                                            "kind": kind, "reason": "请协助核查"})
    refused = send(SHANGLI, "transfer")
    helped = send(XIANGDONG, "help_request")
    assert refused.status_code == helped.status_code == 201, (refused.text, helped.text)

    clock.set(_local_noon(date(2027, 3, 3)))
    r = system.call("POST", f"/api/v1/joint/transfers/{refused.json()['transfer_id']}/answer",
                    f"liaison-{SHANGLI}", json={"accept": False, "reason": "不属本县管辖"})
    assert r.status_code == 200 and r.json()["on_time"], r.text
    r = system.call("POST", f"/api/v1/joint/agreements/{PX}/consultations", f"liaison-{host}",
                    json={"date": "2027-03-20"})
    assert r.status_code == 201, r.text
    meeting = r.json()["meeting_id"]
    r = system.call("POST", f"/api/v1/joint/agreements/{PX}/operations", f"dispatcher-{host}",
                    json={"date": "2027-03-18", "title": "莲花上栗联合执法",
                          "officers": [f"enforcement-{LIANHUA}", f"enforcement-{SHANGLI}"]})
    assert r.status_code == 201, r.text
    operation = r.json()["operation_id"]

    clock.set(_local_noon(date(2027, 3, 17)))  # past the help request's answer deadline
    r = system.call("POST", f"/api/v1/joint/transfers/{helped.json()['transfer_id']}/answer",
                    f"liaison-{XIANGDONG}", json={"accept": True})
    assert r.status_code == 200 and not r.json()["on_time"], r.text
    clock.set(_local_noon(date(2027, 3, 18)))
    r = system.call("POST", f"/api/v1/joint/operations/{operation}/report",
                    f"dispatcher-{host}", json={"summary": "联合检查完成"})
    assert r.status_code == 200, r.text
    clock.set(_local_noon(date(2027, 3, 19)))
    r = system.call("POST", f"/api/v1/tasks/{task['task_id']}/close", task["assignee"]["id"],
                    json={"result": "已责令整改", "founded": True})
    assert r.status_code == 200, r.text
    r = system.call("POST", f"/api/v1/tasks/{task['task_id']}/verify",
                    f"supervisor-{LIANHUA}", json={"approved": True})
    assert r.status_code == 200, r.text
    wait_for(lambda: _outbox(system, "joint_case_closed", case_no=task["case_no"]),
             message="joint_case_closed")
    clock.set(_local_noon(date(2027, 3, 20)))
    r = system.call("POST", f"/api/v1/joint/consultations/{meeting}/held", f"liaison-{host}",
                    json={"minutes": "通报移交与协助情况", "attendees": [
                        {"region_code": LIANHUA, "names": ["贺文斌"]},
                        {"region_code": XIANGDONG, "names": ["彭志强"]}]})
    assert r.status_code == 200, r.text

    # What happened, per party, as the province would grade it.
    ours, _ = _both(system, "2027-03", start, end)
    expect = {code: dict.fromkeys(list(JOINT_FIGURES) + ["answered"], 0) for code in PX_PARTIES}
    expect[SHANGLI].update(transfers_received=1, answered_on_time=1, answered=1)
    expect[XIANGDONG].update(transfers_received=1, answered=1)
    expect[host]["consultations_held"] = 1
    for code in {host, LIANHUA, XIANGDONG}:
        expect[code]["consultations_attended"] = 1
    for code in {host, LIANHUA, SHANGLI}:
        expect[code]["joint_operations"] = 1
    expect[LIANHUA]["shared_cases_closed"] = 1
    assert ours == expect

    # Ranking folded the same from the events.
    def agree():
        mine, theirs = _both(system, "2027-03", start, end)
        return mine == theirs
    wait_for(agree, timeout=30, message="ranking agrees with the evaluation")
    evaluation = {p["region_code"]: p for p in system.call(
        "GET", f"/api/v1/joint/agreements/{PX}/evaluation?start={start}&end={end}",
        "admin").json()["parties"]}
    assert evaluation[SHANGLI]["score_parts"]["transfer_timeliness"] == 1.0
    assert evaluation[XIANGDONG]["score_parts"]["transfer_timeliness"] == 0.5  # late credit
    assert evaluation[LIANHUA]["score_parts"]["shared_case_closure"] == 1.0


# --- nothing outside the agreement, by any endpoint ---------------------------------------------
NEIGHBOURS = [f"{role}-{XIANGDONG}" for role in ("liaison", "intake", "dispatcher",
                                                 "enforcement", "supervisor")] + [
    "gz-360313101001", "gy-360313101001-1", "liaison-430281", f"liaison-{ANYUAN}"]
_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture(scope="module")
def outside(system):
    """A 芦溪县 case far from every border and river; a consultation and a joint operation of
    the agreement (湘东区's officer in its team, under way today) to name in paths."""
    people = {"name": "界外" + uuid.uuid4().hex[:6], "phone": new_phone()}
    task = _file(system, FAR_LUXI, LUXI, people=people)
    assert _shared_with(system, task["case_no"]) == set()
    today = (system.clock.now() + timedelta(hours=8)).date()
    host = _host_on(system, PX, today)
    r = system.call("POST", f"/api/v1/joint/agreements/{PX}/consultations", f"liaison-{host}",
                    json={"date": today.isoformat()})
    assert r.status_code == 201, r.text
    meeting = r.json()["meeting_id"]
    r = system.call("POST", f"/api/v1/joint/agreements/{PX}/operations", f"dispatcher-{host}",
                    json={"date": today.isoformat(), "title": "越界测试",
                          "officers": [f"enforcement-{XIANGDONG}", f"enforcement-{LUXI}"]})
    assert r.status_code == 201, r.text
    return {"task": task, "people": people, "params": {
        "case_no": task["case_no"], "task_id": task["task_id"], "agreement_id": PX,
        "code": LUXI, "region_code": LUXI, "transfer_id": "X-0000", "meeting_id": meeting,
        "operation_id": r.json()["operation_id"]}}


def _bodies(case_no: str) -> dict:
    """Bodies that name the outside case, for every command that could touch or reveal it."""
    return {"request_transfer": {"case_no": case_no, "to_region": XIANGDONG, "reason": "越权"},
            "file_finding": {"case_no": case_no},
            "close_task": {"result": "越权办结", "founded": True},
            "verify_task": {"approved": True}, "reassign_task": {"reason": "越权",
                                                                 "grid_code": XIANGDONG},
            "return_task": {"reason": "越权"}, "request_extension": {"days": 3, "reason": "越权"},
            "decide_extension": {"approve": True}, "accept_case": {},
            "decline_case": {"reason": "not_environmental"},
            "refer_case": {"to_region": XIANGDONG, "reason": "越权"},
            "rate_case": {"score": 1}, "recheck_task": {"outcome": "held"}}


@pytest.mark.parametrize("account", NEIGHBOURS)
def test_no_endpoint_shows_a_neighbour_a_case_outside_the_agreement(system, outside, account):
    task, people = outside["task"], outside["people"]
    secrets = (task["case_no"], task["task_id"])
    assert account in system.tokens
    bodies = _bodies(task["case_no"])
    checked = 0
    for route in ROUTES:
        if route.name == "track_case":
            continue  # public progress by number, by design; no personal data (checked below)
        path = _PARAM.sub(lambda m: str(outside["params"].get(m.group(1), "X-0000")),
                          route.path)
        names_it = bool({"case_no", "task_id"} & set(_PARAM.findall(route.path)))
        if route.method == "GET":
            query = "&".join(f"{q}=all" if q == "status" else f"{q}=1000" if q == "limit"
                             else "" for q in route.query if q in ("status", "limit"))
            r = system.call("GET", f"{path}?{query}" if query else path, account)
        elif names_it or route.name in bodies:
            r = system.call(route.method, path, account, json=bodies.get(route.name, {}))
        else:
            continue
        checked += 1
        text = r.content.decode("utf-8", "replace")
        if names_it or route.method == "POST":
            assert r.status_code in (403, 404), (route.name, r.status_code, text)
        else:
            assert r.status_code < 500, (route.name, r.status_code, text)
        if r.status_code >= 400:
            # An error may echo the number asked for, and says nothing else.
            assert set(r.json()) == {"error"}, (route.name, text)
        else:
            if route.name == "audit_log":
                # The reader's own region's refused attempts name what they typed, no more:
                # a supervisor is meant to see their staff probing a neighbour's records.
                own = account.rsplit("-", 1)[1]
                text = json.dumps([e for e in r.json() if not (
                    e["scope"].startswith(own) and e["status"] in (403, 404))],
                    ensure_ascii=False)
            for secret in secrets:
                assert secret not in text, (route.name, secret)
        _no_personal_data(text, people)
    assert checked >= 25
    # The record is as it was: nobody outside moved it.
    assert get_task(system, task["task_id"])["status"] == "assigned"
    public = system.call("GET", f"/api/v1/public/cases/{task['case_no']}")
    assert public.status_code == 200
    _no_personal_data(public.text, people)
    assert "address" not in public.json() and "description" not in public.json()
