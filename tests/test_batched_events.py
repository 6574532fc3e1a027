"""Events handled in batches (``on_events``), on a real broker and database: a burst is handled
in fewer transactions than events, each event once, all acked; a redelivered event changes
nothing; a poison event in a batch goes to the dead-letter queue alone while the rest of its
batch is handled once."""
from __future__ import annotations

import uuid

import pytest
from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.standalone.events import event_dispatcher
from sqlalchemy import Integer, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common.db import MessagingBase, insert_unless_present
from services.common.messaging import DEAD_LETTER_QUEUE, on_events
from services.common.unit_of_work import Database
from tests.fixtures import create_databases, drop_databases, wait_for

SOURCE = "batch_probe_source"


class Base(DeclarativeBase):
    pass


class Noted(Base):
    __tablename__ = "noted"
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    mark: Mapped[str] = mapped_column(String(40))


class Batch(Base):
    __tablename__ = "batch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(Integer)


class BatchSink:
    name = "batch_probe_sink"
    db = Database("batch_probe_sink", relay=False)

    @on_events(SOURCE, "noted")
    def note(self, uow, payloads):
        if any(p["mark"].startswith("poison") for p in payloads):
            raise ValueError("cannot handle this payload")
        connection = uow.session.connection()
        connection.execute(insert_unless_present(Noted.__table__, connection.dialect.name),
                           [{"event_id": p["event_id"], "mark": p["mark"]} for p in payloads])
        uow.session.add(Batch(size=len(payloads)))


@pytest.fixture(scope="module")
def sink(amqp_uri, session_tag):
    urls = create_databases(session_tag, ("batch_probe_sink",), migrate=False)
    engine = create_engine(urls["batch_probe_sink"])
    MessagingBase.metadata.create_all(engine)
    Base.metadata.create_all(engine)
    config = {"AMQP_URI": amqp_uri, "DATABASE_URLS": urls, "EVENT_RETRY_PAUSE": 0.1,
              "EVENT_BATCH": 10, "EVENT_BATCH_LINGER_SECONDS": 0.2, "max_workers": 10}
    container = ServiceContainer(BatchSink, config)
    container.start()
    yield config, engine
    container.kill()
    engine.dispose()
    drop_databases(urls)


def _publish(config, payloads):
    dispatch = event_dispatcher(config)
    for payload in payloads:
        dispatch(SOURCE, "noted", payload)


def _noted(engine, prefix) -> list[str]:
    with Session(engine) as s:
        return list(s.scalars(select(Noted.event_id).where(Noted.mark.startswith(prefix))))


def _payloads(prefix, n):
    return [{"event_id": f"{prefix}-{i}", "mark": f"{prefix}-{i}"} for i in range(n)]


def test_a_burst_is_handled_in_batches_each_event_once(sink):
    config, engine = sink
    prefix = "burst" + uuid.uuid4().hex[:6]
    with Session(engine) as s:
        before = s.scalar(select(func.count()).select_from(Batch))
    payloads = _payloads(prefix, 40)
    _publish(config, payloads + payloads[:5])  # the first five again, as after a crash
    wait_for(lambda: len(_noted(engine, prefix)) == 40, message="all noted")
    with Session(engine) as s:
        sizes = list(s.scalars(select(Batch.size).where(Batch.id > 0).order_by(Batch.id)))
    batches = len(sizes) - before
    assert sorted(_noted(engine, prefix)) == sorted(p["event_id"] for p in payloads)
    assert batches < 40 and max(sizes) <= 10  # batched, never past EVENT_BATCH
    with Connection(config["AMQP_URI"]) as conn:  # every message acked: nothing waits
        declared = conn.default_channel.queue_declare(
            "evt-batch_probe_source-noted--batch_probe_sink.note", passive=True)
        assert declared.message_count == 0


def test_a_poison_event_goes_alone_to_the_dead_letter_queue(sink):
    config, engine = sink
    prefix = "mixed" + uuid.uuid4().hex[:6]
    payloads = _payloads(prefix, 6)
    poison = {"event_id": f"{prefix}-p", "mark": f"poison-{prefix}"}
    _publish(config, payloads[:3] + [poison] + payloads[3:])
    wait_for(lambda: len(_noted(engine, prefix)) == 6, message="the rest noted")

    def dead_lettered():
        with Connection(config["AMQP_URI"]) as conn:
            queue = conn.SimpleQueue(DEAD_LETTER_QUEUE)
            while True:  # others' dead letters go back when the connection closes
                try:
                    message = queue.get(timeout=0.5)
                except queue.Empty:
                    return None
                if message.payload.get("event_id") == poison["event_id"]:
                    message.ack()
                    return message
    message = wait_for(dead_lettered, message="dead-lettered poison")
    assert "cannot handle this payload" in message.headers["x-envgrid-error"]
    assert message.headers["x-envgrid-consumer"] == "batch_probe_sink.note"
    assert sorted(_noted(engine, prefix)) == sorted(p["event_id"] for p in payloads)
