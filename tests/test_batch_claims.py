"""A batch's events are claimed for their consumer in one go (``UnitOfWork.first_claims``), on
PostgreSQL and SQLite: each event once, whatever was claimed before or is repeated in the batch;
a batch that overlaps one still running waits for it, and then claims only what that one did
not, or all of it if that one rolled back."""
from __future__ import annotations

from datetime import datetime, timezone

import eventlet
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from services.common.db import MessagingBase, ProcessedMessage
from services.common.unit_of_work import UnitOfWork
from tests.fixtures import create_databases, drop_databases

CONSUMER = "Probe.on_event"


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def engine(request, session_tag, tmp_path_factory):
    urls = None
    if request.param == "postgresql":
        urls = create_databases(session_tag + "c", ("claims",), migrate=False)
        url = urls["claims"]
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('claims')}/claims.db"
    engine = create_engine(url)
    MessagingBase.metadata.create_all(engine)
    yield engine
    engine.dispose()
    if urls:
        drop_databases(urls)


def _uow(engine) -> UnitOfWork:
    return UnitOfWork(Session(engine), "probe", datetime.now(timezone.utc), None)


def _claimed(engine, prefix) -> list[tuple[str, str]]:
    with Session(engine) as s:
        return sorted(s.execute(select(ProcessedMessage.message_id, ProcessedMessage.consumer)
                                .where(ProcessedMessage.message_id.startswith(prefix))).all())


def test_each_event_is_claimed_once(engine):
    with _uow(engine) as uow:
        assert uow.first_claims(["a1", "a2", "a1"], CONSUMER) == {"a1", "a2"}
        uow.commit()
    with _uow(engine) as uow:  # redelivered with a new one; and for another consumer
        assert uow.first_claims(["a2", "a3", "a1"], CONSUMER) == {"a3"}
        assert uow.first_claims(["a1"], "Other.on_event") == {"a1"}
        uow.commit()
    with _uow(engine) as uow:  # claimed but not committed: nothing stays
        assert uow.first_claims(["a4"], CONSUMER) == {"a4"}
    assert _claimed(engine, "a") == [("a1", "Other.on_event"), ("a1", CONSUMER),
                                     ("a2", CONSUMER), ("a3", CONSUMER)]
    assert _uow(engine).first_claims([], CONSUMER) == set()


# SQLite has one writer: a second batch could not even start while the first runs.
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize("first_commits", [True, False])
def test_an_overlapping_batch_waits_for_the_one_running(engine, first_commits):
    prefix = f"b{int(first_commits)}"
    first = _uow(engine)
    assert first.first_claims([f"{prefix}-2", f"{prefix}-1"], CONSUMER) == {f"{prefix}-1",
                                                                            f"{prefix}-2"}

    def second():
        with _uow(engine) as uow:
            claimed = uow.first_claims([f"{prefix}-3", f"{prefix}-2"], CONSUMER)
            uow.commit()
            return claimed
    waiting = eventlet.spawn(second)
    eventlet.sleep(0.5)
    assert not waiting.dead  # held up by the first batch's claim of -2
    first.commit() if first_commits else first.rollback()
    first.session.close()
    expected = {f"{prefix}-3"} if first_commits else {f"{prefix}-2", f"{prefix}-3"}
    assert waiting.wait() == expected
    assert [m for m, _ in _claimed(engine, prefix)] == (
        [f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"] if first_commits
        else [f"{prefix}-2", f"{prefix}-3"])
