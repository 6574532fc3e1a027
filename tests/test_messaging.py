"""The messaging guarantees on a real broker and database: the outbox publishes only what was
committed, consumers are idempotent, poison messages go to the dead-letter queue and the queue
keeps flowing."""
from __future__ import annotations

import uuid

import pytest
from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common import events
from services.common.db import MessagingBase, OutboxMessage
from services.common.messaging import DEAD_LETTER_QUEUE, on_event
from services.common.unit_of_work import Database
from tests.fixtures import create_databases, drop_databases, wait_for


class ProbeBase(DeclarativeBase):
    pass


class Seen(ProbeBase):
    __tablename__ = "seen"
    case_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


def _closed(case_no: str) -> dict:
    return dict(events.CATALOGUE[events.CASE_CLOSED].sample, case_no=case_no)


class ProbeSource:
    name = "probe_source"
    db = Database("probe_source")

    @rpc
    def close(self, case_no, commit=True):
        with self.db.unit_of_work({"id": "t", "role": "test"}) as uow:
            uow.emit(events.CASE_CLOSED, _closed(case_no))
            if commit:
                uow.commit()


class ProbeSink:
    name = "probe_sink"
    db = Database("probe_sink", relay=False)

    accept_poison = False

    @on_event("probe_source", events.CASE_CLOSED)
    def on_closed(self, uow, payload):
        if payload["case_no"].startswith("poison") and not ProbeSink.accept_poison:
            raise ValueError("cannot handle this payload")
        row = uow.session.get(Seen, payload["case_no"]) or Seen(case_no=payload["case_no"])
        row.count = (row.count or 0) + 1
        uow.session.add(row)


@pytest.fixture(scope="module")
def probe(amqp_uri, session_tag):
    urls = create_databases(session_tag, ("probe_source", "probe_sink"), migrate=False)
    for url in urls.values():
        engine = create_engine(url)
        MessagingBase.metadata.create_all(engine)
        ProbeBase.metadata.create_all(engine)
        engine.dispose()
    config = {"AMQP_URI": amqp_uri, "DATABASE_URLS": urls, "OUTBOX_POLL_SECONDS": 0.1,
              "EVENT_RETRY_PAUSE": 0.1}
    containers = [ServiceContainer(cls, config) for cls in (ProbeSink, ProbeSource)]
    for c in containers:
        c.start()
    yield config, urls
    for c in containers:
        c.kill()
    drop_databases(urls)


def _count(url, case_no):
    engine = create_engine(url)
    with Session(engine) as s:
        row = s.get(Seen, case_no)
        value = row.count if row else 0
    engine.dispose()
    return value


def test_committed_event_is_handled_once(probe):
    config, urls = probe
    case_no = "ok-" + uuid.uuid4().hex[:8]
    with ServiceRpcProxy("probe_source", config) as source:
        source.close(case_no)
    wait_for(lambda: _count(urls["probe_sink"], case_no) == 1, message="event handled")
    engine = create_engine(urls["probe_source"])
    with Session(engine) as s:
        row = s.scalars(select(OutboxMessage).where(
            OutboxMessage.payload["case_no"].as_string() == case_no)).one()
        assert row.published_at is not None
        payload = row.payload
    engine.dispose()
    # The broker delivers the same event again: nothing changes a second time.
    dispatch = event_dispatcher(config)
    dispatch("probe_source", events.CASE_CLOSED, payload)
    dispatch("probe_source", events.CASE_CLOSED, payload)
    other = "ok-" + uuid.uuid4().hex[:8]
    dispatch("probe_source", events.CASE_CLOSED, dict(payload, case_no=other,
                                                       event_id=str(uuid.uuid4())))
    wait_for(lambda: _count(urls["probe_sink"], other) == 1, message="later event handled")
    assert _count(urls["probe_sink"], case_no) == 1


def test_rolled_back_work_publishes_nothing(probe):
    config, urls = probe
    case_no = "rb-" + uuid.uuid4().hex[:8]
    with ServiceRpcProxy("probe_source", config) as source:
        source.close(case_no, commit=False)
    engine = create_engine(urls["probe_source"])
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.payload["case_no"].as_string() == case_no)) == 0
    engine.dispose()


def test_poison_message_goes_to_dead_letter_queue_and_the_queue_flows_on(probe):
    config, urls = probe
    poison = "poison-" + uuid.uuid4().hex[:8]
    fine = "ok-" + uuid.uuid4().hex[:8]
    with ServiceRpcProxy("probe_source", config) as source:
        source.close(poison)
        source.close(fine)
    wait_for(lambda: _count(urls["probe_sink"], fine) == 1, message="later message handled")

    def dead_lettered():
        # Other tests' poison may share the queue: look for ours, put the rest back.
        with Connection(config["AMQP_URI"]) as conn:
            queue = conn.SimpleQueue(DEAD_LETTER_QUEUE)
            while True:  # unacked others go back when the connection closes
                try:
                    message = queue.get(timeout=0.5)
                except queue.Empty:
                    return None
                if message.payload.get("case_no") == poison:
                    message.ack()
                    return message
    message = wait_for(dead_lettered, message="dead-lettered message")
    assert message.payload["case_no"] == poison
    assert "cannot handle this payload" in message.headers["x-envgrid-error"]
    assert message.headers["x-envgrid-consumer"] == "probe_sink.on_closed"
    assert _count(urls["probe_sink"], poison) == 0


def test_dead_letters_are_listed_and_replayed_once_fixed(probe):
    from infra import dlq
    config, urls = probe
    poison = "poison-" + uuid.uuid4().hex[:8]
    with ServiceRpcProxy("probe_source", config) as source:
        source.close(poison)
    wait_for(lambda: any(m["routing_key"] == "case_closed" and "cannot handle" in m["error"]
                         for m in dlq.list_messages(config["AMQP_URI"])),
             message="listed dead letter")
    # "Fix" the consumer: it accepts the payload once it no longer looks poisonous.
    ProbeSink.accept_poison = True
    try:
        assert dlq.replay(config["AMQP_URI"]) >= 1
        wait_for(lambda: _count(urls["probe_sink"], poison) == 1, message="replayed")
    finally:
        ProbeSink.accept_poison = False


def test_a_read_sees_one_snapshot(probe):
    """``db.read()`` answers from one snapshot: a view built from several statements cannot mix
    the state before a commit with the state after it (as a case's status and history did)."""
    config, urls = probe
    db = Database("probe_sink", relay=False)
    db.container = type("C", (), {"config": config, "service_name": "probe_sink"})()
    db.setup()
    case_no = "snap-" + uuid.uuid4().hex[:8]

    def count(uow):
        return uow.session.scalar(select(func.count()).select_from(Seen).where(
            Seen.case_no == case_no))

    def write():
        with Session(db.engine) as other:
            other.add(Seen(case_no=case_no, count=1))
            other.commit()

    with db.read() as uow:
        before = count(uow)
        write()
        assert count(uow) == before == 0  # the commit in between is not seen
    with db.unit_of_work() as uow:
        assert count(uow) == 1
        with Session(db.engine) as other:
            other.execute(Seen.__table__.delete().where(Seen.case_no == case_no))
            other.commit()
        assert count(uow) == 0  # READ COMMITTED: each statement sees the latest commits
    db.engine.dispose()
