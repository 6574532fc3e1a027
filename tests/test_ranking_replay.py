"""Ranking's read model rebuilt from scratch by replaying its recorded history equals the live
one that was kept current event by event: the counters, and the registers beside them
(enterprise violations, cards and card history, open tasks)."""
from __future__ import annotations

import time
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from tests.casework import COUNTY, VILLAGE, chief_of, new_task
from tests.fixtures import system_of_its_own, wait_for


REGISTERS = {
    "enterprise_case": "SELECT case_no, enterprise_key, enterprise, region_code, category, "
                       "major, spans::text FROM enterprise_case",
    "enterprise_card": "SELECT enterprise_key, enterprise, level, since, cases::text, as_of, "
                       "next_check_at FROM enterprise_card",
    "card_change": "SELECT enterprise_key, seq, from_level, to_level, at, cases::text "
                   "FROM card_change",
    "open_task": "SELECT task_id, case_no, region_code, grid_code, category, unit, state, "
                 "started_at, deadline, rung FROM open_task",
}


def _snapshot(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {(s, p): d for s, p, d in conn.execute(
            text("SELECT scope, period, data FROM counter_set"))}
        registers = {name: sorted(tuple(r) for r in conn.execute(text(sql)))
                     for name, sql in REGISTERS.items()}
        caught_up = conn.execute(text(
            "SELECT coalesce((SELECT min(position) FROM checkpoint WHERE name IN "
            "('main', 'books')), 0) = coalesce((SELECT max(position) FROM recorded_event), 0) "
            "AND (SELECT count(*) FROM checkpoint WHERE name IN ('main', 'books')) = 2"
        )).scalar()
    engine.dispose()
    return (rows, registers), caught_up


def _settled(url):
    first, caught_up = _snapshot(url)
    time.sleep(1.0)
    second, still = _snapshot(url)
    return caught_up and still and first == second and second


@pytest.fixture(scope="module")
def system(service_logging, tmp_path_factory):
    """Its own system: in the session's, sweeps catching up on a clock earlier tests moved
    record events between the live snapshot and the rebuild (the rebuild then looks behind)."""
    with system_of_its_own(tmp_path_factory) as sys_:
        yield sys_


def test_replay_from_scratch_equals_the_live_model(system):
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "air.odour", "description": "回放测试", "region_code": "360313"})
    assert r.status_code == 201
    # A founded sign-off naming an enterprise (a card) and a task left open.
    enterprise = "回放测试企业" + uuid.uuid4().hex[:6]
    signed = new_task(system, VILLAGE, enterprise=enterprise)
    for path, account, body in ((f"/api/v1/tasks/{signed['task_id']}/close", chief_of(VILLAGE),
                                 {"result": "查实", "founded": True}),
                                (f"/api/v1/tasks/{signed['task_id']}/verify",
                                 f"supervisor-{COUNTY}", {"approved": True})):
        assert system.call("POST", path, account, json=body).status_code == 200
    open_task = new_task(system, VILLAGE)
    live = wait_for(lambda: (lambda snap: snap and any(
        row[0] == enterprise.lower() for row in snap[1]["enterprise_card"]) and snap)(
        _settled(system.databases["ranking"])), timeout=30, message="ranking caught up")
    assert any(scope == "360313" for scope, _ in live[0])
    assert open_task["task_id"] in [row[0] for row in live[1]["open_task"]]
    with ClusterRpcProxy(system.config) as rpc:
        replayed = rpc.ranking.rebuild()
    assert replayed > 0
    rebuilt, caught_up = _snapshot(system.databases["ranking"])
    assert caught_up
    assert rebuilt == live
