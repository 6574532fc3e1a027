"""Region scope through the public API: staff of 湘东区 (360313) can neither read nor change a
芦溪县 (360323) case or task through any endpoint; records of other regions are reported absent.
City staff (360300) see the county's records; a grid worker sees only their own tasks; the
complainant's phone reaches intake of the handling region only.

The endpoints come from the gateway's route table, so a new case or task endpoint is covered
the day it is added (give it a body in ``VALID_BODY`` if it needs one)."""
from __future__ import annotations

import uuid

import pytest

from services.gateway.api import ROUTES
from tests.casework import CITY, COUNTY, OTHER_COUNTY, OTHER_VILLAGE, VILLAGE, chief_of, \
    file_case, get_case, get_task, new_phone, new_task, path_for, wait_case_history, worker_of
from tests.fixtures import wait_for

OUTSIDERS = {  # 湘东区 staff of every role that has accounts per county
    "intake": f"intake-{OTHER_COUNTY}",
    "dispatcher": f"dispatcher-{OTHER_COUNTY}",
    "supervisor": f"supervisor-{OTHER_COUNTY}",
    "enforcement": f"enforcement-{OTHER_COUNTY}",
    "grid_chief": chief_of(OTHER_VILLAGE),
    "grid_worker": worker_of(OTHER_VILLAGE),
    "liaison": f"liaison-{OTHER_COUNTY}",
}

# Bodies that would succeed on the record if scope let the call through.
VALID_BODY = {
    "accept_case": {},
    "decline_case": {"reason": "not_environmental", "note": "越权测试"},
    "refer_case": {"to_region": OTHER_COUNTY, "reason": "越权测试"},
    "rate_case": {"score": 5, "comment": "越权测试"},
    "close_task": {"result": "越权测试", "founded": True},
    "verify_task": {"approved": True, "note": "越权测试"},
    "reassign_task": {"grid_code": OTHER_VILLAGE, "reason": "越权测试"},
    "return_task": {"reason": "越权测试"},
    "request_extension": {"days": 3, "reason": "越权测试"},
    "decide_extension": {"approve": True, "note": "越权测试"},
}

# Public progress tracking by number is open to anyone by design (no personal data).
OPEN_BY_NUMBER = {"track_case"}
CASE_ROUTES = [r for r in ROUTES if "<case_no>" in r.path and r.name not in OPEN_BY_NUMBER]
TASK_ROUTES = [r for r in ROUTES if "<task_id>" in r.path]
LIST_ROUTES = [r for r in ROUTES if r.method == "GET" and "<" not in r.path]
GET_ROUTES = [r for r in ROUTES if r.method == "GET"]
# Open records by default, and every record ("all" is a status filter of the task list only).
LIST_QUERIES = ("?limit=500&period=2026-11", "?limit=500&status=all&period=2026-11")


def _body(route):
    if route.body is None:
        return None
    if route.name not in VALID_BODY and route.body.get("required"):
        pytest.fail(f"give {route.name} a valid body in VALID_BODY")
    return VALID_BODY.get(route.name, {})


@pytest.fixture(scope="module")
def county(system):
    """芦溪县 records in every state a case or task command acts on, each with a known phone
    and name, settled (complaints has mirrored every task event) and snapshotted."""
    phone, name = new_phone(), "隐私" + uuid.uuid4().hex[:6]
    chief = chief_of(VILLAGE)
    received = file_case(system, VILLAGE, phone=phone, name=name)

    pending = new_task(system, VILLAGE, phone=phone, name=name)  # extension pending
    r = system.call("POST", f"/api/v1/tasks/{pending['task_id']}/extension", chief,
                    json={"days": 3, "reason": "需要取样"})
    assert r.status_code == 201, r.text

    closed = new_task(system, VILLAGE, phone=phone, name=name)  # awaiting verification
    r = system.call("POST", f"/api/v1/tasks/{closed['task_id']}/close", chief,
                    json={"result": "已处理", "founded": True})
    assert r.status_code == 200, r.text
    wait_case_history(system, closed["case_no"], "closed")

    resolved = new_task(system, VILLAGE, phone=phone, name=name)  # ready to be rated
    tid = resolved["task_id"]
    assert system.call("POST", f"/api/v1/tasks/{tid}/close", chief,
                       json={"result": "已处理", "founded": True}).status_code == 200
    assert system.call("POST", f"/api/v1/tasks/{tid}/verify", f"supervisor-{COUNTY}",
                       json={"approved": True}).status_code == 200
    wait_case_history(system, resolved["case_no"], "feedback_sent")

    cases = [received, pending["case_no"], closed["case_no"], resolved["case_no"]]
    tasks = [pending["task_id"], closed["task_id"], tid]
    return {"phone": phone, "name": name, "cases": cases, "tasks": tasks,
            "snapshot": _snapshot(system, cases, tasks)}


def _snapshot(system, cases, tasks):
    return ({c: get_case(system, c) for c in cases}, {t: get_task(system, t) for t in tasks})


def _token(system, account):
    if account is not None and account not in system.tokens:
        pytest.skip(f"no demo account {account}")
    return account


def _refused(r, route, role):
    """404 for a role the route lets through (the record is absent to it), else 403 at the
    gateway, which answers the same for every record and so reveals nothing either."""
    if role in route.roles:
        assert r.status_code == 404, (r.status_code, r.text)
        assert r.json()["error"]["code"].endswith("not_found"), r.text
    else:
        assert r.status_code == 403, (r.status_code, r.text)
        assert r.json()["error"]["code"] == "forbidden_role"


@pytest.mark.parametrize("role", OUTSIDERS)
@pytest.mark.parametrize("route", CASE_ROUTES, ids=lambda r: r.name)
def test_other_county_cannot_touch_a_case(system, county, route, role):
    account = _token(system, OUTSIDERS[role])
    for case_no in county["cases"]:
        r = system.call(route.method, path_for(route.path, case_no=case_no), account,
                        json=_body(route))
        _refused(r, route, role)


@pytest.mark.parametrize("role", OUTSIDERS)
@pytest.mark.parametrize("route", TASK_ROUTES, ids=lambda r: r.name)
def test_other_county_cannot_touch_a_task(system, county, route, role):
    account = _token(system, OUTSIDERS[role])
    for task_id in county["tasks"]:
        r = system.call(route.method, path_for(route.path, task_id=task_id), account,
                        json=_body(route))
        _refused(r, route, role)


@pytest.mark.parametrize("role", OUTSIDERS)
def test_other_county_lists_do_not_show_them(system, county, role):
    account = _token(system, OUTSIDERS[role])
    for route in LIST_ROUTES:
        for query in LIST_QUERIES:
            r = system.call("GET", route.path + query, account)
            if role not in route.roles:
                assert r.status_code == 403, (route.name, r.status_code, r.text)
                continue
            assert r.status_code == 200, (route.name, r.status_code, r.text)
            for ref in county["cases"] + county["tasks"]:
                assert ref not in r.text, (route.name, ref)


def test_public_tracking_shows_no_personal_data(system, county):
    for case_no in county["cases"]:
        for account in (None, *OUTSIDERS.values()):
            r = system.call("GET", f"/api/v1/public/cases/{case_no}", account)
            if r.status_code == 403:  # roles the public route does not list
                continue
            assert r.status_code == 200, r.text
            assert county["phone"] not in r.text and county["name"] not in r.text


def test_records_are_unchanged_afterwards(system, county):
    """Runs after the attempts above (file order): nothing they sent changed anything."""
    cases, tasks = _snapshot(system, county["cases"], county["tasks"])
    before_cases, before_tasks = county["snapshot"]
    assert tasks == before_tasks
    assert cases == before_cases


@pytest.mark.parametrize("role", ["intake", "dispatcher", "supervisor", "enforcement"])
def test_city_staff_see_county_records(system, county, role):
    account = f"{role}-{CITY}"
    listed = system.call("GET", "/api/v1/cases?limit=500", account)
    assert listed.status_code == 200, listed.text
    numbers = {c["case_no"] for c in listed.json()}
    for case_no in county["cases"]:
        assert get_case(system, case_no, account)["case_no"] == case_no
        assert case_no in numbers
    if role == "intake":
        return  # intake does not work tasks (not in the route's roles)
    listed = system.call("GET", "/api/v1/tasks?status=all&limit=1000", account)
    assert listed.status_code == 200, listed.text
    ids = {t["task_id"] for t in listed.json()}
    for task_id in county["tasks"]:
        assert get_task(system, task_id, account)["task_id"] == task_id
        assert task_id in ids


def test_grid_worker_sees_only_own_tasks(system):
    one, two = worker_of(VILLAGE, 1), worker_of(VILLAGE, 2)
    task = new_task(system, VILLAGE)
    tid = task["task_id"]

    def sees(worker):
        got = system.call("GET", f"/api/v1/tasks/{tid}", worker)
        listed = system.call("GET", "/api/v1/tasks?status=all&limit=1000", worker)
        assert listed.status_code == 200, listed.text
        in_list = tid in {t["task_id"] for t in listed.json()}
        assert got.status_code in (200, 404), got.text
        assert (got.status_code == 200) == in_list, (got.status_code, in_list)
        return in_list

    # Assigned to the grid chief: no worker sees it, and none may act on it.
    assert not sees(one) and not sees(two)
    r = system.call("POST", f"/api/v1/tasks/{tid}/close", one,
                    json={"result": "越权", "founded": True})
    assert r.status_code == 404, r.text
    # Given to worker 1: worker 1 sees it, worker 2 still does not.
    r = system.call("POST", f"/api/v1/tasks/{tid}/reassign", f"dispatcher-{COUNTY}",
                    json={"assignee": {"id": one, "role": "grid_worker"}, "reason": "就近处理"})
    assert r.status_code == 200, r.text
    assert sees(one) and not sees(two)
    r = system.call("POST", f"/api/v1/tasks/{tid}/close", two,
                    json={"result": "越权", "founded": True})
    assert r.status_code == 404, r.text
    assert get_task(system, tid)["status"] == "assigned"


def _accounts_without_the_phone():
    """Everyone who must not see a 芦溪县 complainant's phone, one account per role each."""
    same_county = [None, worker_of(VILLAGE), chief_of(VILLAGE), f"dispatcher-{COUNTY}",
                   f"supervisor-{COUNTY}", f"enforcement-{COUNTY}", f"liaison-{COUNTY}"]
    city = [f"{r}-{CITY}" for r in ("dispatcher", "supervisor", "enforcement")] + [
        "monitor-360300"]
    return same_county + list(OUTSIDERS.values()) + city


def test_phone_reaches_no_one_but_intake_of_the_region(system, county):
    phone, name = county["phone"], county["name"]
    # Intake of the county sees it: the check below can fail.
    assert phone in system.call("GET", f"/api/v1/cases/{county['cases'][0]}",
                                f"intake-{COUNTY}").text
    # Let notify and ranking catch up with the fixture's events, so messages are there too.
    wait_for(lambda: system.call("GET", "/api/v1/messages", chief_of(VILLAGE)).json(),
             message="messages to the grid chief")
    checked = 0
    for account in _accounts_without_the_phone():
        if account is not None and account not in system.tokens:
            continue
        for route in GET_ROUTES:
            if "<" not in route.path:
                paths = [route.path + q for q in LIST_QUERIES]
            else:
                paths = [path_for(route.path, case_no=c, task_id=t, code=VILLAGE)
                         for c, t in zip(county["cases"], ["X"] + county["tasks"])]
            for path in paths:
                r = system.call("GET", path, account)
                assert r.status_code < 500, (route.name, account, r.status_code, r.text)
                assert phone not in r.text, (route.name, account)
                assert phone[-8:] not in r.text, (route.name, account)
                assert name not in r.text, (route.name, account)
                checked += r.status_code == 200
    assert checked > 100
