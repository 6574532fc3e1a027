"""Ranking's read model rebuilt from scratch by replaying its recorded history equals the live
one that was kept current event by event."""
from __future__ import annotations

import time

from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from tests.fixtures import wait_for


def _snapshot(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {(s, p): d for s, p, d in conn.execute(
            text("SELECT scope, period, data FROM counter_set"))}
        caught_up = conn.execute(text(
            "SELECT coalesce((SELECT position FROM checkpoint WHERE name = 'main'), 0) = "
            "coalesce((SELECT max(position) FROM recorded_event), 0)")).scalar()
    engine.dispose()
    return rows, caught_up


def _settled(url):
    first, caught_up = _snapshot(url)
    time.sleep(1.0)
    second, still = _snapshot(url)
    return caught_up and still and first == second and second


def test_replay_from_scratch_equals_the_live_model(system):
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "air.odour", "description": "回放测试", "region_code": "360313"})
    assert r.status_code == 201
    live = wait_for(lambda: _settled(system.databases["ranking"]), timeout=30,
                    message="ranking caught up")
    assert any(scope == "360313" for scope, _ in live)
    with ClusterRpcProxy(system.config) as rpc:
        replayed = rpc.ranking.rebuild()
    assert replayed > 0
    rebuilt, caught_up = _snapshot(system.databases["ranking"])
    assert caught_up
    assert rebuilt == live
