"""Helpers shared by the access, region-scope and dispatch-action tests: make real cases and
tasks through the public API and read them back as the administrator."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from sqlalchemy import create_engine, text

from tests.fixtures import wait_for

COUNTY = "360323"          # 芦溪县
OTHER_COUNTY = "360313"    # 湘东区
CITY = "360300"            # 萍乡市
VILLAGE = "360323101001"   # 金鸡村, 宣风镇, 芦溪县
VILLAGE_2 = "360323101002"  # 马岭村, same township
OTHER_VILLAGE = "360313101001"  # 竹园村, 腊市镇, 湘东区


def chief_of(grid_code: str) -> str:
    return f"gz-{grid_code}"


def worker_of(grid_code: str, n: int = 1) -> str:
    return f"gy-{grid_code}-{n}"


def new_phone() -> str:
    """A mobile number no other test uses, so finding it in a response means a leak."""
    return "139" + str(uuid.uuid4().int)[:8]


def path_for(route_path: str, **values) -> str:
    """Fill a werkzeug rule with values by parameter name; unknown parameters get a dummy."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values.get(m.group(1), "X-0000")),
                  route_path)


def file_case(system, grid_code=VILLAGE, phone=None, name=None, category="air.odour",
              enterprise=None) -> str:
    """A hotline case entered by the county's intake desk; returns its number (received)."""
    complainant = {"phone": phone or new_phone()}
    if name:
        complainant["name"] = name
    body = {"channel": "hotline", "category": category, "grid_code": grid_code,
            "description": "测试案件 " + uuid.uuid4().hex, "complainant": complainant}
    if enterprise:
        body["enterprise"] = enterprise
    r = system.call("POST", "/api/v1/intake", f"intake-{grid_code[:6]}", json=body)
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


def post(system, path, account, body, status=200, code=None) -> dict:
    """POST and check the status (and the error code); the JSON answer."""
    r = system.call("POST", path, account, json=body)
    assert r.status_code == status, (r.status_code, r.text)
    if code is not None:
        assert r.json()["error"]["code"] == code, r.text
    return r.json()


def get_case(system, case_no, token="admin") -> dict:
    r = system.call("GET", f"/api/v1/cases/{case_no}", token)
    assert r.status_code == 200, r.text
    return r.json()


def get_task(system, task_id, token="admin") -> dict:
    r = system.call("GET", f"/api/v1/tasks/{task_id}", token)
    assert r.status_code == 200, r.text
    return r.json()


def accept_and_assign(system, case_no) -> dict:
    """Accept the case and wait for dispatch to assign its task; return the task."""
    r = system.call("POST", f"/api/v1/cases/{case_no}/accept", f"intake-{COUNTY}", json={})
    assert r.status_code == 200, r.text
    case = wait_for(lambda: get_case(system, case_no).get("task_id") and
                    get_case(system, case_no), message=f"task for {case_no}")
    return get_task(system, case["task_id"])


def new_task(system, grid_code=VILLAGE, **kwargs) -> dict:
    return accept_and_assign(system, file_case(system, grid_code, **kwargs))


def actions(record: dict) -> list[str]:
    return [h["action"] for h in record["history"]]


def entries(record: dict, action: str) -> list[dict]:
    return [h for h in record["history"] if h["action"] == action]


def wait_case_history(system, case_no, action, count=1) -> dict:
    """The case once complaints has mirrored ``count`` ``action`` entries into its history."""
    return wait_for(lambda: (lambda c: len(entries(c, action)) >= count and c)(
        get_case(system, case_no)), message=f"{action} x{count} in history of {case_no}")


def utc(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def rating_token(system, case_no: str) -> str:
    """The token the complainant's result message carries (read from complaints' database)."""
    engine = create_engine(system.databases["complaints"])
    with engine.connect() as conn:
        token = conn.execute(text('SELECT rating_token FROM "case" WHERE case_no = :n'),
                             {"n": case_no}).scalar()
    engine.dispose()
    assert token
    return token
