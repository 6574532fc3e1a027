"""Killing a service while work is in flight loses nothing and duplicates nothing.

The containers run in-process; ``kill()`` drops their broker connections without acks, as a
crashed process would, and the broker hands the unacknowledged messages to the new container.
(`make faults` does the same with real processes and kill -9.)
"""
from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text

from tests.fixtures import wait_for

VILLAGE = "360323101001"


def _submit_and_accept(system, n):
    numbers = []
    for i in range(n):
        r = system.call("POST", "/api/v1/complaints", json={
            "category": "air.dust", "description": f"扬尘 {uuid.uuid4().hex} {i}",
            "grid_code": VILLAGE})
        assert r.status_code == 201, r.text
        case_no = r.json()["case_no"]
        r = system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360323", json={})
        assert r.status_code == 200, r.text
        numbers.append(case_no)
    return numbers


def _tasks_per_case(system, numbers):
    engine = create_engine(system.databases["dispatch"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT case_no, count(*) FROM task WHERE case_no = ANY(:n) "
                                 "GROUP BY case_no"), {"n": numbers}).all()
    engine.dispose()
    return dict(rows)


def _assigned_cases(system, numbers):
    engine = create_engine(system.databases["complaints"])
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM \"case\" WHERE case_no = ANY(:n) AND "
                                  "task_id IS NOT NULL"), {"n": numbers}).scalar()
    engine.dispose()
    return count


def test_dispatch_killed_mid_flight_assigns_each_case_once(system):
    system.containers["dispatch"].kill()
    numbers = _submit_and_accept(system, 15)  # accepted while dispatch is down
    system.restart("dispatch")
    counts = wait_for(lambda: (c := _tasks_per_case(system, numbers)) and len(c) == 15 and c,
                      timeout=30, message="one task per case")
    assert set(counts.values()) == {1}
    wait_for(lambda: _assigned_cases(system, numbers) == 15, timeout=30,
             message="cases marked assigned")


def test_complaints_killed_mid_flight_loses_nothing(system):
    numbers = _submit_and_accept(system, 10)
    system.containers["complaints"].kill()  # task_assigned events now wait in its queue
    system.restart("complaints")
    wait_for(lambda: _assigned_cases(system, numbers) == 10, timeout=30,
             message="every case assigned after the restart")
    assert set(_tasks_per_case(system, numbers).values()) == {1}
