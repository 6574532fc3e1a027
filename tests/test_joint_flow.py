"""Cross-region joint enforcement (左右联动) through the public API, against real RabbitMQ and
PostgreSQL: automatic sharing of border cases with the neighbour under the demo agreement
PX-COUNTIES (without the complainant), the logged cross-region reads, transfers refused and
accepted, the rotating-host roster (JSON, iCalendar, printable) and the linkage evaluation.

芦溪县 (360323) borders 湘东区 (360313) along lon 114.00 between lat 27.40 and 27.55 in the demo
registry; the agreement shares cases within 5 km of a shared border."""
from __future__ import annotations

import uuid
from collections import Counter

import psycopg2
import pytest

from services.gateway.api import ROUTES
from tests.casework import get_case, get_task, new_phone, path_for
from tests.fixtures import wait_for

COUNTY, NEIGHBOUR = "360323", "360313"   # 芦溪县, 湘东区
NEAR_BORDER = (114.02, 27.48)   # inside 芦溪县, ~2 km east of the edge with 湘东区
FAR = (114.15, 27.60)           # 宣风镇, ~15 km from any other county
AGREEMENT = "PX-COUNTIES"

# Reads that name one case or task: none may show a case that is not shared with the reader.
RECORD_GETS = [r for r in ROUTES if r.method == "GET"
               and ("<case_no>" in r.path or "<task_id>" in r.path)
               and r.name != "track_case"]  # public progress by number (no personal data)


def _file(system, lonlat, name, phone):
    r = system.call("POST", "/api/v1/intake", f"intake-{COUNTY}", json={
        "channel": "hotline", "category": "water.industrial", "lon": lonlat[0],
        "lat": lonlat[1], "address": "芦溪县测试地址",
        "description": f"举报人{name}称河边排污，电话{phone} " + uuid.uuid4().hex,
        "complainant": {"name": name, "phone": phone}})
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    assert r.json()["region_code"] == COUNTY
    r = system.call("POST", f"/api/v1/cases/{case_no}/accept", f"intake-{COUNTY}", json={})
    assert r.status_code == 200, r.text
    case = wait_for(lambda: get_case(system, case_no).get("task_id") and
                    get_case(system, case_no), message=f"task for {case_no}")
    return get_task(system, case["task_id"])


@pytest.fixture(scope="module")
def people():
    return {"name": "隐私" + uuid.uuid4().hex[:6], "phone": new_phone()}


@pytest.fixture(scope="module")
def near(system, people):
    return _file(system, NEAR_BORDER, **people)


@pytest.fixture(scope="module")
def far(system, people):
    return _file(system, FAR, **people)


def _outbox(system, event_type, case_no):
    conn = psycopg2.connect(system.databases["dispatch"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT payload FROM outbox WHERE event_type = %s", (event_type,))
            return [p for (p,) in cur.fetchall() if p["case_no"] == case_no]
    finally:
        conn.close()


def _no_personal_data(text, people):
    assert people["phone"] not in text and people["phone"][-8:] not in text
    assert people["name"] not in text


def _evaluation(system, code):
    r = system.call("GET", f"/api/v1/joint/agreements/{AGREEMENT}/evaluation", "admin")
    assert r.status_code == 200, r.text
    return next(p for p in r.json()["parties"] if p["region_code"] == code)


# --- sharing ----------------------------------------------------------------------------------
def test_border_case_is_shared_with_the_neighbour_without_the_complainant(system, near,
                                                                          people):
    assert near["region_code"] == COUNTY
    case_no = near["case_no"]
    r = system.call("GET", f"/api/v1/joint/cases/{case_no}", f"liaison-{NEIGHBOUR}")
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["case_no"] == case_no and view["region_code"] == COUNTY
    assert view["status"] == "assigned" and view["deadline"] == near["deadline"]
    assert view["category"] == "water.industrial" and view["grid_code"] == near["grid_code"]
    assert [(s["agreement_id"], s["partner_region"], s["reason"]) for s in view["shared"]] == [
        (AGREEMENT, NEIGHBOUR, "border")]
    # Never the complainant, nor the free text that quotes them.
    _no_personal_data(r.text, people)
    assert "description" not in view and not any("complainant" in k for k in view)
    # The check above can fail: intake of the county does see them.
    assert people["phone"] in system.call("GET", f"/api/v1/cases/{case_no}",
                                          f"intake-{COUNTY}").text

    listed = system.call("GET", "/api/v1/joint/cases?status=all", f"liaison-{NEIGHBOUR}")
    assert listed.status_code == 200, listed.text
    assert case_no in {c["case_no"] for c in listed.json()}
    _no_personal_data(listed.text, people)

    # The staff of 湘东区 see it too; the other counties, the Hunan partners and 湘东区's own
    # task views do not.
    assert system.call("GET", f"/api/v1/joint/cases/{case_no}",
                       f"dispatcher-{NEIGHBOUR}").status_code == 200
    for account in ("liaison-360302", "liaison-360321", "liaison-430281"):
        assert system.call("GET", f"/api/v1/joint/cases/{case_no}",
                           account).status_code == 404, account
    assert system.call("GET", f"/api/v1/tasks/{near['task_id']}",
                       f"dispatcher-{NEIGHBOUR}").status_code == 404

    # One case_shared event, in the same outbox as the assignment, without personal data.
    [event] = _outbox(system, "case_shared", case_no)
    assert (event["partner_region"], event["agreement_id"], event["reason"]) == (
        NEIGHBOUR, AGREEMENT, "border")
    assert event["task_id"] == near["task_id"] and event["region_code"] == COUNTY
    _no_personal_data(str(event), people)


def test_cross_region_reads_are_logged(system, near):
    case_no = near["case_no"]
    before = system.call("GET", f"/api/v1/joint/access-log?case_no={case_no}", "admin").json()
    assert system.call("GET", f"/api/v1/joint/cases/{case_no}",
                       f"liaison-{NEIGHBOUR}").status_code == 200
    r = system.call("GET", f"/api/v1/joint/access-log?case_no={case_no}",
                    f"supervisor-{COUNTY}")
    assert r.status_code == 200, r.text
    log = r.json()
    assert len(log) == len(before) + 1
    assert (log[0]["actor_id"], log[0]["actor_region"], log[0]["region_code"],
            log[0]["action"]) == (f"liaison-{NEIGHBOUR}", NEIGHBOUR, COUNTY, "read")
    # A supervisor of another region does not see reads of 芦溪县's records.
    other = system.call("GET", f"/api/v1/joint/access-log?case_no={case_no}",
                        f"supervisor-{NEIGHBOUR}")
    assert other.status_code == 200 and other.json() == []
    # Reads within one's own region are not cross-region.
    system.call("GET", "/api/v1/joint/cases?status=all", "admin")
    assert len(system.call("GET", f"/api/v1/joint/access-log?case_no={case_no}",
                           "admin").json()) == len(log)


@pytest.mark.parametrize("account", [f"liaison-{NEIGHBOUR}", f"dispatcher-{NEIGHBOUR}",
                                     f"supervisor-{NEIGHBOUR}", f"enforcement-{NEIGHBOUR}",
                                     "liaison-430281", "liaison-360302"])
def test_a_case_outside_the_agreement_is_invisible_to_neighbours(system, far, people, account):
    """Far from any border: no endpoint shows it to a neighbouring county's officer."""
    refs = {"case_no": far["case_no"], "task_id": far["task_id"]}
    assert RECORD_GETS
    role = account.split("-")[0]
    for route in RECORD_GETS:
        r = system.call("GET", path_for(route.path, **refs), account)
        if role in route.roles:
            assert r.status_code == 404, (route.name, r.status_code, r.text)
        else:
            assert r.status_code == 403, (route.name, r.status_code, r.text)
        _no_personal_data(r.text, people)
    listed = system.call("GET", "/api/v1/joint/cases?status=all&limit=1000", account)
    assert listed.status_code == 200 and far["case_no"] not in listed.text
    # Nor may it be transferred by them.
    r = system.call("POST", "/api/v1/joint/transfers", f"dispatcher-{NEIGHBOUR}",
                    json={"case_no": far["case_no"], "to_region": NEIGHBOUR, "reason": "越权"})
    assert r.status_code == 404, r.text
    assert _outbox(system, "case_shared", far["case_no"]) == []


# --- transfers --------------------------------------------------------------------------------
def _transfer(system, task, kind="transfer"):
    r = system.call("POST", "/api/v1/joint/transfers", f"dispatcher-{COUNTY}", json={
        "case_no": task["case_no"], "to_region": NEIGHBOUR, "kind": kind,
        "reason": "污染源位于湘东区一侧"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["state"], t["from_region"], t["to_region"], t["agreement_id"]) == (
        "requested", COUNTY, NEIGHBOUR, AGREEMENT)
    assert t["due"] > t["requested_at"] and t["expires_at"] >= t["due"]
    return t


def test_refused_transfer_returns_to_the_sender_with_the_reason(system, near, people):
    before = _evaluation(system, NEIGHBOUR)
    t = _transfer(system, near)
    # The same case cannot be sent twice while waiting.
    again = system.call("POST", "/api/v1/joint/transfers", f"dispatcher-{COUNTY}", json={
        "case_no": near["case_no"], "to_region": NEIGHBOUR, "reason": "再次"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "transfer_pending"
    received = system.call("GET", "/api/v1/joint/transfers", f"liaison-{NEIGHBOUR}")
    assert t["transfer_id"] in {x["transfer_id"] for x in received.json()}
    _no_personal_data(received.text, people)

    path = f"/api/v1/joint/transfers/{t['transfer_id']}/answer"
    r = system.call("POST", path, f"liaison-{NEIGHBOUR}", json={"accept": False})
    assert r.status_code == 422 and r.json()["error"]["code"] == "reason_required", r.text
    r = system.call("POST", path, "liaison-360302", json={"accept": False, "reason": "越权"})
    assert r.status_code == 404, r.text  # only the receiving party answers
    r = system.call("POST", path, f"liaison-{NEIGHBOUR}",
                    json={"accept": False, "reason": "经核查污染源在芦溪县境内"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "refused" and r.json()["on_time"] is True
    r = system.call("POST", path, f"liaison-{NEIGHBOUR}", json={"accept": True})
    assert r.status_code == 409, r.text

    # The sender sees the refusal and its reason; the task never left.
    sent = system.call("GET", "/api/v1/joint/transfers", f"dispatcher-{COUNTY}").json()
    mine = next(x for x in sent if x["transfer_id"] == t["transfer_id"])
    assert (mine["state"], mine["answer_reason"]) == ("refused", "经核查污染源在芦溪县境内")
    task = get_task(system, near["task_id"])
    assert task["region_code"] == COUNTY and task["assignee"] == near["assignee"]
    assert "joint_transfer_refused" in [h["action"] for h in task["history"]]
    [event] = _outbox(system, "joint_transfer_answered", near["case_no"])
    assert (event["state"], event["reason"], event["from_region"]) == (
        "refused", "经核查污染源在芦溪县境内", COUNTY)

    after = _evaluation(system, NEIGHBOUR)
    assert after["transfers_received"] == before["transfers_received"] + 1
    assert after["answered_on_time"] == before["answered_on_time"] + 1
    assert after["score_parts"]["transfer_timeliness"] == 1.0
    assert _evaluation(system, COUNTY)["transfers_sent"] >= 1


def test_accepted_transfer_moves_the_task(system, people):
    task = _file(system, (114.01, 27.50), **people)
    t = _transfer(system, task)
    r = system.call("POST", f"/api/v1/joint/transfers/{t['transfer_id']}/answer",
                    f"liaison-{NEIGHBOUR}", json={"accept": True})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "accepted"

    moved = get_task(system, task["task_id"])
    assert (moved["region_code"], moved["grid_code"]) == (NEIGHBOUR, NEIGHBOUR)
    assert moved["assignee"]["id"] == f"gz-{NEIGHBOUR}" and moved["status"] == "assigned"
    assert system.call("GET", f"/api/v1/tasks/{task['task_id']}",
                       f"dispatcher-{NEIGHBOUR}").status_code == 200
    assert system.call("GET", f"/api/v1/tasks/{task['task_id']}",
                       f"dispatcher-{COUNTY}").status_code == 404
    # The sender still follows its progress as a shared case.
    r = system.call("GET", f"/api/v1/joint/cases/{task['case_no']}", f"liaison-{COUNTY}")
    assert r.status_code == 200, r.text
    assert r.json()["region_code"] == NEIGHBOUR
    _no_personal_data(r.text, people)
    [reassigned] = _outbox(system, "task_reassigned", task["case_no"])
    assert reassigned["region_code"] == NEIGHBOUR


# --- roster and evaluation --------------------------------------------------------------------
def _unfold(ics: str) -> list[str]:
    assert ics.endswith("\r\n") and "\n" not in ics.replace("\r\n", "")
    raw = ics.split("\r\n")[:-1]
    assert all(len(line.encode("utf-8")) <= 75 for line in raw)
    lines: list[str] = []
    for line in raw:
        if line.startswith(" "):
            lines[-1] += line[1:]
        else:
            lines.append(line)
    return lines


def test_two_year_roster_is_fair_and_exports(system):
    window = "start=2026-01-01&end=2027-12-31"
    base = f"/api/v1/joint/agreements/{AGREEMENT}/roster"
    r = system.call("GET", f"{base}?{window}", f"liaison-{NEIGHBOUR}")
    assert r.status_code == 200, r.text
    roster = r.json()
    terms = roster["terms"]
    assert len(terms) == 8  # quarterly
    counts = Counter(t["host_region"] for t in terms)
    parties = ["360302", "360313", "360321", "360322", "360323"]
    assert max(counts[p] for p in parties) - min(counts[p] for p in parties) <= 1
    assert all(t["duties"] for t in terms)

    r = system.call("GET", f"{base}.ics?{window}", f"liaison-{NEIGHBOUR}")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/calendar")
    lines = _unfold(r.content.decode("utf-8"))
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines
    begins = [i for i, x in enumerate(lines) if x == "BEGIN:VEVENT"]
    ends = [i for i, x in enumerate(lines) if x == "END:VEVENT"]
    assert len(begins) == len(ends) == len(terms) + len(roster["meetings"])
    uids = []
    for b, e in zip(begins, ends):
        assert b < e
        props = {x.split(":", 1)[0].split(";")[0]: x for x in lines[b + 1:e]}
        assert {"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"} <= set(props)
        assert props["DTSTART"].startswith("DTSTART;VALUE=DATE:")
        uids.append(props["UID"])
    assert len(set(uids)) == len(uids)

    r = system.call("GET", f"{base}.html?{window}", f"dispatcher-{COUNTY}")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "萍乡市县区环境执法联动协议" in r.text and r.text.count("<tr>") == len(terms) + 1

    # The Hunan side is no party to it; the city-wide 湘赣边 agreement is yearly.
    assert system.call("GET", f"{base}?{window}", "liaison-430281").status_code == 404
    r = system.call("GET", f"/api/v1/joint/agreements/XIANGGAN-BORDER/roster?{window}",
                    "liaison-430281")
    assert r.status_code == 200 and len(r.json()["terms"]) == 2
    r = system.call("GET", f"{base}?start=2027-01-01&end=2026-01-01", "admin")
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_window"
    listed = [a["id"] for a in system.call("GET", "/api/v1/joint/agreements",
                                           "liaison-430281").json()]
    assert "XIANGGAN-BORDER" in listed and AGREEMENT not in listed


def test_swap_exchanges_two_terms(system):
    base = f"/api/v1/joint/agreements/{AGREEMENT}/roster"
    terms = system.call("GET", f"{base}?start=2027-01-01&end=2028-12-31",
                        "admin").json()["terms"]
    first = next(t for t in terms if t["host_region"] == COUNTY)
    other = next(t["host_region"] for t in terms
                 if t["period_start"] > first["period_start"] and t["host_region"] != COUNTY)
    body = {"period_start": first["period_start"], "a": COUNTY, "b": other,
            "reason": "轮值期内开展专项督察，无法主持"}
    assert system.call("POST", f"/api/v1/joint/agreements/{AGREEMENT}/swaps",
                       f"supervisor-{NEIGHBOUR}", json=dict(body, b="360321")).status_code in (
        404, 422)  # 湘东区 swaps neither term (404) unless it names itself
    r = system.call("POST", f"/api/v1/joint/agreements/{AGREEMENT}/swaps",
                    f"supervisor-{COUNTY}", json=body)
    assert r.status_code == 201, r.text
    after = system.call("GET", f"{base}?start=2027-01-01&end=2028-12-31",
                        "admin").json()["terms"]
    swapped = next(t for t in after if t["period_start"] == first["period_start"])
    assert swapped["host_region"] == other and swapped["swap"]["reason"] == body["reason"]
    assert Counter(t["host_region"] for t in after) == Counter(t["host_region"] for t in terms)
    r = system.call("POST", f"/api/v1/joint/agreements/{AGREEMENT}/swaps",
                    f"supervisor-{COUNTY}", json=body)
    assert r.status_code == 409, r.text


def test_evaluation_covers_every_party(system):
    r = system.call("GET", f"/api/v1/joint/agreements/{AGREEMENT}/evaluation",
                    f"liaison-{COUNTY}")
    assert r.status_code == 200, r.text
    parties = {p["region_code"]: p for p in r.json()["parties"]}
    assert set(parties) == {"360302", "360313", "360321", "360322", "360323"}
    assert parties[COUNTY]["shared_cases"] >= 1
    for p in parties.values():
        assert p["score"] is None or 0 <= p["score"] <= 100
    assert system.call("GET", f"/api/v1/joint/agreements/{AGREEMENT}/evaluation",
                       "liaison-430281").status_code == 404
