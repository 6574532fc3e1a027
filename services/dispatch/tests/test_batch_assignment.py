"""Dispatch assigns the cases of a batch in one unit of work (PostgreSQL, the demo grids and
agreements): nothing is written before the commit, so the batch's tasks and history go in
together; a case that comes twice gets one task; a border case is shared with the neighbour
once, even when a second reason (a joint finding) names the same partner in the same batch."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import sessionmaker

from infra import seed
from infra.demo import pingxiang
from services.common import events
from services.common.config import Policy
from services.common.db import OutboxMessage, make_engine
from services.common.unit_of_work import UnitOfWork
from services.dispatch import handlers, joint_handlers
from services.dispatch.grids import GridRegistry
from services.dispatch.models import SharedCase, Task, TaskHistory
from tests.fixtures import create_databases, drop_databases

COUNTY, NEIGHBOUR, AGREEMENT = "360323", "360313", "PX-COUNTIES"   # 芦溪县, 湘东区
NEAR_BORDER = (114.02, 27.48)   # inside 芦溪县, ~2 km east of the edge with 湘东区
INLAND = (114.2, 27.5)


@pytest.fixture(scope="module")
def dispatch_db(session_tag):
    urls = create_databases(session_tag + "ba", ("dispatch",))
    seed.seed_grids(urls["dispatch"])
    engine = make_engine(urls["dispatch"])
    yield engine
    engine.dispose()
    drop_databases(urls)


@pytest.fixture(scope="module")
def registry():
    return GridRegistry.build(pingxiang.demo_grids())[0]


def _accepted(case_no, lon, lat):
    return dict(events.sample_payload("case_accepted"), case_no=case_no, region_code=COUNTY,
                grid_code=None, category="water.industrial", lon=lon, lat=lat, river=None,
                event_id=str(uuid.uuid4()))


def test_a_batch_is_written_at_its_commit_one_task_per_case_shared_once(dispatch_db, registry):
    border, inland = (f"{COUNTY}-20261206-{uuid.uuid4().int % 10**6:06d}" for _ in range(2))
    batch = [_accepted(border, *NEAR_BORDER), _accepted(inland, *INLAND),
             _accepted(border, *NEAR_BORDER)]  # accepted again: a new event, the same case
    written = []

    def note(conn, cursor, statement, *args):
        if statement.startswith(("INSERT INTO task", "INSERT INTO joint_shared_case")):
            written.append(statement.split()[2])
    event.listen(dispatch_db, "before_cursor_execute", note)
    try:
        uow = UnitOfWork(sessionmaker(dispatch_db, expire_on_commit=False)(), "dispatch",
                         datetime.now(timezone.utc), {"id": "system", "role": "system"})
        with uow:
            tasks = [handlers.assign_case(uow, p, registry, Policy.load()) for p in batch]
            assert tasks[0] is tasks[2] and tasks[0] is not tasks[1]
            # The same partner again for another reason (a joint finding), in the same batch.
            assert joint_handlers._share(uow, AGREEMENT, tasks[0], NEIGHBOUR, "operation") is None
            assert written == []  # nothing before the commit
            uow.commit()
    finally:
        event.remove(dispatch_db, "before_cursor_execute", note)
    assert written.count("task") == 1  # the batch's tasks in one statement

    with sessionmaker(dispatch_db)() as s:
        assert s.scalar(select(func.count()).select_from(Task)
                        .where(Task.case_no.in_([border, inland]))) == 2
        assert s.scalar(select(func.count()).select_from(TaskHistory)
                        .where(TaskHistory.task_id.in_([t.id for t in tasks]))) == 2
        shares = s.execute(select(SharedCase.case_no, SharedCase.partner_region)
                           .where(SharedCase.case_no.in_([border, inland]))).all()
        assert [tuple(r) for r in shares] == [(border, NEIGHBOUR)]
        outbox = [m.payload for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.payload["case_no"].as_string().in_([border, inland])))]
        assert sorted((p["event_type"], p["case_no"]) for p in outbox) == sorted([
            (events.TASK_ASSIGNED, border), (events.TASK_ASSIGNED, inland),
            (events.CASE_SHARED, border)])
