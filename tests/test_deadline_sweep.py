"""Warnings and escalations on a controllable clock, each exactly once, with two dispatch
instances sweeping at the same time."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from nameko.containers import ServiceContainer

from tests.fixtures import wait_for

VILLAGE = "360323101002"  # 马岭村, 宣风镇


@pytest.fixture
def second_dispatch(system):
    container = ServiceContainer(system.containers["dispatch"].service_cls, system.config)
    container.start()
    yield container
    container.kill()


@pytest.fixture
def clock(system):
    start = system.clock.now()
    yield system.clock
    system.clock.set(start)


def _task(system, tid):
    return system.call("GET", f"/api/v1/tasks/{tid}", "admin").json()


def test_warning_then_each_rung_once(system, second_dispatch, clock):
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "air.cooking", "description": "餐饮油烟 " + uuid.uuid4().hex,
        "grid_code": VILLAGE, "priority": "high"})
    case_no = r.json()["case_no"]
    system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360323", json={})
    case = wait_for(lambda: (c := system.call("GET", f"/api/v1/cases/{case_no}",
                                              "admin").json()).get("task_id") and c,
                    message="task")
    task = _task(system, case["task_id"])
    warn_at = datetime.fromisoformat(task["warn_at"])
    due = datetime.fromisoformat(task["deadline"])

    def actions():
        return [h["action"] for h in _task(system, task["task_id"])["history"]]

    clock.set(warn_at + timedelta(minutes=1))
    wait_for(lambda: "warning" in actions(), message="warning")
    clock.set(due + timedelta(minutes=1))
    wait_for(lambda: "escalated" in actions(), message="first rung")
    clock.set(due + timedelta(days=40))  # past every rung of the ladder
    wait_for(lambda: _task(system, task["task_id"])["rung"] == 3, message="third rung")
    final = _task(system, task["task_id"])
    assert actions().count("warning") == 1
    rungs = [h["detail"]["rung"] for h in final["history"] if h["action"] == "escalated"]
    assert rungs == [1, 2, 3]
    # Each rung goes one level further up the grid tree: township, county, city.
    targets = [h["detail"]["to_grid_code"] for h in final["history"]
               if h["action"] == "escalated"]
    assert targets == ["360323101", "360323", "360300"]
    # The case's own history shows the escalations the complainant's case went through.
    history = system.call("GET", f"/api/v1/cases/{case_no}", "admin").json()["history"]
    wait_for(lambda: [h["action"] for h in system.call(
        "GET", f"/api/v1/cases/{case_no}", "admin").json()["history"]].count("escalated") == 3,
        message="escalations mirrored on the case")
    assert history
