"""Every route of the gateway's table against every role: a role the route does not list is
refused (401 without a token, 403 ``forbidden_role`` with one); a role it lists is never refused
for a record of its own region, and never meets a server error.

Parametrised from ``ROUTES`` and ``ROLES``, so a new endpoint or role is covered the day it is
added. The bodies are valid but chosen so that business rules, not the role check, stop the
mutating calls: the shared case and task stay as they were (checked at the end)."""
from __future__ import annotations

import uuid

import pytest

from services.common.authz import ROLES
from services.gateway.api import ROUTES
from tests.casework import COUNTY, VILLAGE, chief_of, get_case, get_task, new_task, path_for, \
    worker_of

# One account of each role whose scope holds the shared 芦溪县 case.
ACCOUNT = {
    "public": None,
    "grid_worker": worker_of(VILLAGE),
    "grid_chief": chief_of(VILLAGE),
    "intake": f"intake-{COUNTY}",
    "dispatcher": f"dispatcher-{COUNTY}",
    "enforcement": f"enforcement-{COUNTY}",
    "supervisor": f"supervisor-{COUNTY}",
    "liaison": f"liaison-{COUNTY}",
    "monitor": "monitor-360300",
    "admin": "admin",
}


def _body(route) -> dict | None:
    """A body that passes the schema; for commands on the shared records, one a business rule
    refuses after the service has checked role and scope."""
    if route.body is None:
        return None
    unique = uuid.uuid4().hex
    bodies = {
        "submit_report": {"category": "air.dust", "description": "巡查 " + unique,
                          "grid_code": VILLAGE},
        "submit_complaint": {"category": "air.dust", "description": "举报 " + unique,
                             "region_code": COUNTY},
        "submit_intake": {"channel": "hotline", "category": "air.dust",
                          "description": "来电 " + unique, "region_code": COUNTY},
        "accept_case": {},                                       # already accepted: 409
        "decline_case": {"reason": "not_environmental"},         # already accepted: 409
        "refer_case": {"to_region": COUNTY, "reason": "测试"},    # its own region: 422
        "monitoring_reading": {"enterprise": "测试企业 " + unique, "outlet": "DA001",
                               "pollutant": "SO2", "hour": "2026-11-23T08:00:00+08:00",
                               "value": 1.0, "limit": 100.0, "region_code": COUNTY},
        "rate_case": {"score": 5},                               # not resolved: 409
        "close_task": {"result": "   ", "founded": True},        # blank result: 422
        "verify_task": {"approved": True},                       # not closed: 409
        "reassign_task": {"grid_code": "999999999999", "reason": "测试"},  # unknown grid: 422
        "return_task": {"reason": ""},                           # blank reason: 422
        "request_extension": {"days": 31, "reason": "测试"},      # over max_days: 422
        "decide_extension": {"approve": True},                   # none pending: 409
        "recheck_task": {"outcome": "held"},                     # not signed off: 409
        "record_patrol": {"grid_code": VILLAGE, "minutes": 30,     # a walk of their grid
                          "started_at": "2026-11-23T00:00:00+00:00"},
        "import_grids": {"format": "geojson", "data": {"type": "Feature"}},  # bad file: 422
    }
    return bodies.get(route.name, {})


# Commands with no body for a business rule to refuse run on a task of their own.
OWN_TASK = ("acknowledge_task",)


@pytest.fixture(scope="module")
def shared(system):
    """A 芦溪县 case accepted and assigned to the grid chief of 金鸡村."""
    task = new_task(system, VILLAGE)
    return {"case_no": task["case_no"], "task_id": task["task_id"], "code": VILLAGE,
            "task": task, "case": get_case(system, task["case_no"]),
            "own_task_id": new_task(system, VILLAGE, category="noise.industrial")["task_id"]}


def _call(system, shared, route, role):
    account = ACCOUNT[role]
    if account is not None and account not in system.tokens:
        pytest.skip(f"no demo account {account}")
    values = dict(shared, task_id=shared["own_task_id"]) if route.name in OWN_TASK else shared
    return system.call(route.method, path_for(route.path, **values), account,
                       json=_body(route))


def test_every_role_has_a_test_account():
    assert set(ACCOUNT) == set(ROLES)
    for route in ROUTES:
        unknown = set(route.roles) - set(ROLES)
        assert not unknown, (route.name, unknown)


DENIED = [(r, role) for r in ROUTES for role in ROLES if role not in r.roles]
ALLOWED = [(r, role) for r in ROUTES for role in ROLES if role in r.roles]


@pytest.mark.parametrize("route,role", DENIED, ids=[f"{r.name}-{role}" for r, role in DENIED])
def test_role_not_listed_is_refused(system, shared, route, role):
    r = _call(system, shared, route, role)
    if role == "public":
        assert r.status_code == 401, (r.status_code, r.text)
        assert r.json()["error"]["code"] == "unauthorized"
    else:
        assert r.status_code == 403, (r.status_code, r.text)
        assert r.json()["error"]["code"] == "forbidden_role"


@pytest.mark.parametrize("route,role", ALLOWED, ids=[f"{r.name}-{role}" for r, role in ALLOWED])
def test_role_listed_is_let_through(system, shared, route, role):
    r = _call(system, shared, route, role)
    assert r.status_code not in (401, 403), (r.status_code, r.text)
    assert r.status_code < 500, (r.status_code, r.text)
    # Only business answers: done, absent (a worker's colleague's task), state, or input.
    assert r.status_code in (200, 201, 202, 404, 409, 422), (r.status_code, r.text)
    if r.status_code >= 400:
        assert r.json()["error"]["code"] not in ("unauthorized", "forbidden_role")


@pytest.mark.parametrize("role", [r for r in ("intake", "dispatcher", "enforcement",
                                              "supervisor", "grid_chief", "admin")])
def test_staff_of_the_region_read_the_case(system, shared, role):
    """Reads are not refused by business rules, so these must succeed outright."""
    r = system.call("GET", f"/api/v1/cases/{shared['case_no']}", ACCOUNT[role])
    assert r.status_code == 200, r.text
    if role != "intake":
        r = system.call("GET", f"/api/v1/tasks/{shared['task_id']}", ACCOUNT[role])
        assert r.status_code == 200, r.text


def test_the_shared_records_are_unchanged(system, shared):
    """No call of the matrix changed the case or the task (the bodies are refused)."""
    assert get_task(system, shared["task_id"]) == shared["task"]
    case = get_case(system, shared["case_no"])
    assert case["status"] == shared["case"]["status"]
    assert [h["action"] for h in case["history"]] == [h["action"] for h in
                                                     shared["case"]["history"]]
