"""A synthetic year of events (``services/ranking/tests/synthetic.py``, with answers counted
independently from its plan) sent through a real broker to a real ranking service on its own
database: the read model it keeps live holds exactly the expected figures and ranks, and
rebuilding it from the recorded history gives the same model.

Ranking runs alone here (its own vhost and database) so that no other service reacts to the
synthetic events and the answers stay known."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from services.common.clock import shared_clock
from services.ranking import league, metrics
from services.ranking.metrics import Counters, apply
from services.ranking.tests import synthetic
from services.ranking.tests.test_ranking_metrics import expected_month
from tests.fixtures import base_config, create_databases, create_vhost, delete_vhost, \
    drop_databases, free_port, service_classes, wait_for

COUNTIES = ["360321", "360322", "360323", "360203"]
SOURCES = {"case": "complaints", "task": "dispatch", "patrol": "dispatch"}


@pytest.fixture(scope="module")
def lone_ranking():
    tag = uuid.uuid4().hex[:8]
    databases = create_databases(tag, services=("ranking",))
    vhost = f"envgrid-year-{tag}"
    amqp = create_vhost(vhost)
    clock = shared_clock(f"year-{tag}")
    clock.set(datetime(2027, 1, 20, 2, 0, tzinfo=timezone.utc))
    config = base_config(amqp, databases, free_port(), f"year-{tag}")
    container = ServiceContainer(service_classes()["ranking"], config)
    container.start()
    yield config, databases["ranking"]
    container.kill()
    drop_databases(databases)
    delete_vhost(vhost)


def _model(url) -> tuple[dict, bool]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {(s, p): d for s, p, d in conn.execute(
            text("SELECT scope, period, data FROM counter_set"))}
        count, caught_up = conn.execute(text(
            "SELECT count(*), coalesce(max(position), 0) = coalesce((SELECT position FROM "
            "checkpoint WHERE name = 'main'), 0) FROM recorded_event")).one()
    engine.dispose()
    return rows, count, caught_up


def test_a_synthetic_year_gives_the_expected_figures_and_ranks_live_and_replayed(lone_ranking):
    config, url = lone_ranking
    # Every 19th day of the year (~950 events): every month has days, and 19 is coprime to
    # the plan's cycles (2, 3, 5, 10, 20), so every lateness and rating pattern keeps its share.
    cases, patrols = synthetic.plan(step=19)
    sent = synthetic.events(cases, patrols)
    expected = Counters()
    dispatch = event_dispatcher(config, use_confirms=False)  # the count below checks arrival
    for event in sent:
        apply(expected, event)
        payload = dict(event, event_id=str(uuid.uuid4()),
                       source=SOURCES[event["event_type"].split("_")[0]], actor=None)
        dispatch(payload["source"], payload["event_type"], payload)

    def settled():
        rows, count, caught_up = _model(url)
        return count == len(sent) and caught_up and rows
    live = wait_for(settled, timeout=300, interval=1.0, message="the year folded")

    # Exactly the pure model of the same events, bucket for bucket...
    assert live == {key: bucket for key, bucket in expected.buckets.items()}
    # ...whose figures are the answers counted from the plan.
    for scope in ("360321", "360323", "360300", "360000"):
        for month in ("2026-01", "2026-07", "2026-12"):
            figures = metrics.figures(live[(scope, month)])
            want = expected_month(cases, patrols, scope, month)
            assert {k: figures[k] for k in want} == want, (scope, month)

    # Ranks of the year: lateness (every 10th, 5th, 3rd, 2nd case late) decides.
    year = {c: metrics.figures(_sum(live, c)) for c in COUNTIES}
    sizes = {c: {"grid_cells": 100, "population": 100000} for c in COUNTIES}
    rows = league.league_table(year, sizes, metrics.load_config())
    assert [(r.scope, r.rank) for r in rows] == [("360321", 1), ("360322", 2), ("360203", 3),
                                                 ("360323", 4)]
    on_time = [r.components["on_time_rate"] for r in rows]
    assert on_time == sorted(on_time, reverse=True)

    with ClusterRpcProxy(config) as rpc:
        assert rpc.ranking.rebuild() == len(sent)
    assert _model(url)[0] == live


def _sum(rows: dict, scope: str) -> dict:
    total: dict = {}
    for month in range(1, 13):
        total = metrics.merge_counts(total, rows[(scope, f"2026-{month:02d}")])
    return total
