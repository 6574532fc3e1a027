"""Events handled in batches (``on_events``, ``on_event(batched=True)``), on a real broker and
database: a burst is handled in fewer transactions than events, each event once, all acked; a
redelivered event changes nothing; a poison event in a batch goes to the dead-letter queue alone
while the rest of its batch is handled once; per-event handlers in a batch each claim their
event and act as its actor; a batch starts at once when none is running, and the events that
come while one runs go together as soon as it ends, not after the linger."""
from __future__ import annotations

import uuid

import eventlet
import pytest
from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.standalone.events import event_dispatcher
from sqlalchemy import Integer, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common.db import MessagingBase, insert_unless_present
from services.common.messaging import DEAD_LETTER_QUEUE, on_event, on_events
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


class Counted(Base):
    __tablename__ = "counted"
    mark: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str | None] = mapped_column(String(40))


class BatchClaimSink:
    name = "batch_claim_sink"
    db = Database("batch_probe_sink", relay=False)  # the same database: its own claims

    @on_event(SOURCE, "noted", batched=True, unless=lambda self, p: p["mark"].startswith("skip"))
    def count(self, uow, payload):
        row = uow.session.get(Counted, payload["mark"]) or Counted(mark=payload["mark"], count=0)
        row.count += 1
        row.actor = uow.actor["id"] if uow.actor else None
        uow.session.add(row)
        uow.session.add(Batch(size=-1))


class EagerSink:
    """One batch at a time, and a linger far longer than any test: a batch that does not start
    at once, or waits for the linger after a batch ends, is never handled."""
    name = "batch_eager_sink"
    db = Database("batch_probe_sink", relay=False)

    @on_events(SOURCE, "eager")
    def note(self, uow, payloads):
        if any(p["mark"].startswith("slow") for p in payloads):
            eventlet.sleep(1.0)  # the rest of the burst arrives while this batch runs
        connection = uow.session.connection()
        connection.execute(insert_unless_present(Noted.__table__, connection.dialect.name),
                           [{"event_id": p["event_id"], "mark": p["mark"]} for p in payloads])
        uow.session.add(Batch(size=1000 + len(payloads)))


@pytest.fixture(scope="module")
def sink(amqp_uri, session_tag):
    urls = create_databases(session_tag, ("batch_probe_sink",), migrate=False)
    engine = create_engine(urls["batch_probe_sink"])
    MessagingBase.metadata.create_all(engine)
    Base.metadata.create_all(engine)
    config = {"AMQP_URI": amqp_uri, "DATABASE_URLS": urls, "EVENT_RETRY_PAUSE": 0.1,
              "EVENT_BATCH": 10, "EVENT_BATCH_LINGER_SECONDS": 0.2, "max_workers": 10}
    containers = [ServiceContainer(cls, config) for cls in (BatchSink, BatchClaimSink)]
    containers.append(ServiceContainer(EagerSink, dict(
        config, EVENT_BATCH_LINGER_SECONDS=3600, EVENT_BATCHES_IN_FLIGHT=1)))
    for container in containers:
        container.start()
    yield config, engine
    for container in containers:
        container.kill()
    engine.dispose()
    drop_databases(urls)


def _publish(config, payloads, event_type="noted"):
    dispatch = event_dispatcher(config)
    for payload in payloads:
        dispatch(SOURCE, event_type, payload)


def _noted(engine, prefix) -> list[str]:
    with Session(engine) as s:
        return list(s.scalars(select(Noted.event_id).where(Noted.mark.startswith(prefix))))


def _payloads(prefix, n):
    return [{"event_id": f"{prefix}-{i}", "mark": f"{prefix}-{i}"} for i in range(n)]


def test_a_burst_is_handled_in_batches_each_event_once(sink):
    config, engine = sink
    prefix = "burst" + uuid.uuid4().hex[:6]
    with Session(engine) as s:
        before = s.scalar(select(func.count()).select_from(Batch).where(Batch.size > 0))
    payloads = _payloads(prefix, 40)
    _publish(config, payloads + payloads[:5])  # the first five again, as after a crash
    wait_for(lambda: len(_noted(engine, prefix)) == 40, message="all noted")
    with Session(engine) as s:
        sizes = list(s.scalars(select(Batch.size).where(Batch.size > 0).order_by(Batch.id)))
    batches = len(sizes) - before
    assert sorted(_noted(engine, prefix)) == sorted(p["event_id"] for p in payloads)
    assert batches < 40 and max(sizes) <= 10  # batched, never past EVENT_BATCH
    assert _queue_empty(config, "evt-batch_probe_source-noted--batch_probe_sink.note")


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


def test_per_event_handlers_in_a_batch_claim_each_event_and_act_as_its_actor(sink):
    config, engine = sink
    prefix = "claim" + uuid.uuid4().hex[:6]
    payloads = [dict(p, actor={"id": f"officer-{i}", "role": "dispatcher"})
                for i, p in enumerate(_payloads(prefix, 12))]
    skipped = {"event_id": f"{prefix}-s", "mark": f"skip-{prefix}"}
    _publish(config, payloads + [skipped] + payloads[:4])  # four delivered twice

    def counted():
        with Session(engine) as s:
            return {r.mark: (r.count, r.actor) for r in s.scalars(
                select(Counted).where(Counted.mark.startswith(prefix)))}
    wait_for(lambda: len(counted()) == 12, message="all counted")
    wait_for(lambda: _queue_empty(config, "evt-batch_probe_source-noted--batch_claim_sink.count"),
             message="all acked")
    assert counted() == {f"{prefix}-{i}": (1, f"officer-{i}") for i in range(12)}
    with Session(engine) as s:
        assert s.get(Counted, f"skip-{prefix}") is None


def _queue_empty(config, name) -> bool:
    with Connection(config["AMQP_URI"]) as conn:
        return conn.default_channel.queue_declare(name, passive=True).message_count == 0


def test_an_event_that_comes_alone_is_handled_at_once(sink):
    config, engine = sink
    prefix = "alone" + uuid.uuid4().hex[:6]
    _publish(config, _payloads(prefix, 1), "eager")
    wait_for(lambda: _noted(engine, prefix) == [f"{prefix}-0"], message="noted without the linger")


def test_events_that_come_while_a_batch_runs_go_together_when_it_ends(sink):
    config, engine = sink
    prefix = "busy" + uuid.uuid4().hex[:6]
    with Session(engine) as s:
        before = s.scalar(select(func.max(Batch.id)).where(Batch.size > 1000)) or 0
    slow = {"event_id": f"{prefix}-slow", "mark": f"slow-{prefix}"}
    payloads = _payloads(prefix, 8)
    _publish(config, [slow] + payloads, "eager")
    wait_for(lambda: len(_noted(engine, prefix)) == 8, message="the rest noted after the first")
    with Session(engine) as s:
        sizes = list(s.scalars(select(Batch.size).where(Batch.size > 1000, Batch.id > before)
                               .order_by(Batch.id)))
    assert sizes[0] == 1001  # the slow one, alone: it started at once
    assert len(sizes) < 9 and sum(sizes) - 1000 * len(sizes) == 9  # the rest gathered
    assert _queue_empty(config, "evt-batch_probe_source-eager--batch_eager_sink.note")
