"""Ranking records each event once by its id, without an inbox claim beside it: a redelivered
event (the broker gives it again after a crash before the ack) adds no second row, on
PostgreSQL and SQLite alike, and recording writes nothing else."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.db import ProcessedMessage
from services.common.events import CATALOGUE, envelope
from services.common.unit_of_work import UnitOfWork
from services.ranking import handlers
from services.ranking.models import RecordedEvent
from tests.fixtures import database_of_its_own

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["postgresql", "sqlite"])
def ranking_db(request, tmp_path):
    with database_of_its_own(request.param, tmp_path, "ranking") as engine:
        yield engine


def _record(engine, *payloads):
    uow = UnitOfWork(Session(engine), "ranking", NOW, None)
    with uow:
        handlers.record(uow, list(payloads))
        uow.commit()


def test_a_redelivered_event_is_recorded_once(ranking_db):
    sample = CATALOGUE["case_received"].sample
    first, second, third = (envelope("case_received", dict(sample, case_no=no), actor=None,
                                     now=NOW) for no in ("C-1", "C-2", "C-3"))
    for payload in (first, first, second, first):
        _record(ranking_db, payload)
    _record(ranking_db, third, second, third)  # a batch holding a recorded event, and one twice
    with Session(ranking_db) as session:
        rows = session.execute(select(RecordedEvent.event_id, RecordedEvent.payload)
                               .order_by(RecordedEvent.position)).all()
        claims = session.scalar(select(func.count()).select_from(ProcessedMessage))
    assert [r.event_id for r in rows] == [first["event_id"], second["event_id"],
                                          third["event_id"]]
    assert rows[0].payload == first
    assert claims == 0
