"""The outbox relay publishes a batch with one wait for the broker's confirms, on a real
RabbitMQ: what the broker stored counts as published, and nothing else does. A message with no
queue to go to, or one a full queue refuses, stays in the outbox for a later attempt; a dropped
connection fails one batch loudly and the next one goes out on a fresh connection."""
from __future__ import annotations

import subprocess
import time
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import events
from services.common.db import MessagingBase, OutboxMessage
from services.common.publisher import ConfirmedPublisher
from services.common.unit_of_work import Database, UnitOfWork
from tests.fixtures import create_vhost, database_of_its_own, delete_vhost

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def vhost():
    name = f"envgrid-relay-{uuid.uuid4().hex[:6]}"
    uri = create_vhost(name)
    yield name, uri
    delete_vhost(name)


@pytest.fixture
def exchange():
    return Exchange(f"relay{uuid.uuid4().hex[:6]}.events", type="topic", durable=True)


def _queue(uri, exchange, routing_key="#", **arguments) -> Queue:
    queue = Queue(f"q-{uuid.uuid4().hex[:6]}", exchange, routing_key=routing_key, durable=True,
                  queue_arguments=arguments or None)
    with Connection(uri) as conn:
        queue(conn.default_channel).declare()
    return queue


def _drain(uri, queue) -> list:
    out = []
    with Connection(uri) as conn:
        bound = queue(conn.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            out.append(message)
    return out


def _batch(n, routing_key="case_received", prefix="k"):
    return [(f"{prefix}{i}", routing_key, {"n": i, "text": "受理"}) for i in range(n)]


def test_a_batch_is_stored_in_order_persistent_and_confirmed(vhost, exchange):
    _, uri = vhost
    publisher = ConfirmedPublisher(uri, exchange)
    publisher._open()  # declares the exchange, so the queue can bind before the first batch
    queue = _queue(uri, exchange)
    try:
        first = publisher.publish_batch(_batch(150))
        second = publisher.publish_batch(_batch(3, prefix="again"))  # same channel, tags go on
    finally:
        publisher.close()
    assert first.sent == {f"k{i}" for i in range(150)}
    assert not first.unroutable and not first.refused
    assert second.sent == {"again0", "again1", "again2"}
    stored = _drain(uri, queue)
    assert [m.payload["n"] for m in stored] == list(range(150)) + [0, 1, 2]
    assert stored[0].properties["message_id"] == "k0"
    assert stored[0].properties["delivery_mode"] == 2
    assert stored[0].content_type == "application/json"
    assert stored[0].payload["text"] == "受理"


def test_unroutable_messages_are_told_apart_from_stored_ones(vhost, exchange):
    _, uri = vhost
    publisher = ConfirmedPublisher(uri, exchange)
    publisher._open()
    queue = _queue(uri, exchange, routing_key="case_received")
    batch = [("a", "case_received", {}), ("b", "nobody_listens", {}),
             ("c", "case_received", {}), ("d", "nobody_listens", {})]
    try:
        result = publisher.publish_batch(batch)
    finally:
        publisher.close()
    assert (result.sent, result.unroutable, result.refused) == ({"a", "c"}, {"b", "d"}, set())
    assert [m.properties["message_id"] for m in _drain(uri, queue)] == ["a", "c"]


def test_messages_a_full_queue_refuses_are_reported_refused(vhost, exchange):
    _, uri = vhost
    publisher = ConfirmedPublisher(uri, exchange)
    publisher._open()
    queue = _queue(uri, exchange, **{"x-max-length": 2, "x-overflow": "reject-publish"})
    try:
        result = publisher.publish_batch(_batch(5))
    finally:
        publisher.close()
    assert result.sent == {"k0", "k1"}
    assert result.refused == {"k2", "k3", "k4"}
    assert len(_drain(uri, queue)) == 2


def test_a_dropped_connection_fails_one_batch_and_the_next_goes_out(vhost, exchange):
    name, uri = vhost
    publisher = ConfirmedPublisher(uri, exchange, timeout=5)
    publisher._open()
    queue = _queue(uri, exchange)
    try:
        assert publisher.publish_batch(_batch(2)).sent == {"k0", "k1"}
        subprocess.run(["rabbitmqctl", "-q", "close_all_connections", "-p", name, "test"],
                       check=True, capture_output=True)
        time.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(Exception):
            publisher.publish_batch(_batch(2, prefix="lost"))
        assert time.monotonic() - started < 5  # the dead connection is noticed, not waited on
        assert publisher.publish_batch(_batch(2, prefix="later")).sent == {"later0", "later1"}
    finally:
        publisher.close()
    ids = [m.properties["message_id"] for m in _drain(uri, queue)]
    assert ids[:2] == ["k0", "k1"] and ids[-2:] == ["later0", "later1"]


@pytest.fixture(params=["postgresql", "sqlite"])
def relay(request, tmp_path, vhost):
    _, uri = vhost
    with database_of_its_own(request.param, tmp_path) as engine:
        MessagingBase.metadata.create_all(engine)
        db = Database("relay" + uuid.uuid4().hex[:6])
        db.container = SimpleNamespace(config={"AMQP_URI": uri,
                                               "DATABASE_URLS": {db.service_name: str(
                                                   engine.url.render_as_string(False))}})
        db.setup()
        try:
            yield db, uri
        finally:
            db.publisher.close()
            db.engine.dispose()


def _emit(db, *event_types):
    uow = UnitOfWork(Session(db.engine), db.service_name, NOW, None)
    with uow:
        for event_type in event_types:
            uow.emit(event_type, dict(events.CATALOGUE[event_type].sample))
        uow.commit()


def _rows(db):
    with Session(db.engine) as s:
        return {r.event_type: r for r in s.scalars(select(OutboxMessage))}


def test_the_relay_marks_what_was_stored_and_keeps_what_was_not(relay):
    db, uri = relay
    db.publisher._open()
    queue = _queue(uri, db.exchange, routing_key="case_received")
    _emit(db, events.CASE_RECEIVED, events.CASE_ACCEPTED)

    assert db.relay_once() == 1
    rows = _rows(db)
    assert rows["case_received"].published_at is not None
    kept = rows["case_accepted"]
    assert kept.published_at is None and kept.attempts == 1
    assert kept.last_error == "unroutable" and kept.next_attempt_at > datetime.now(timezone.utc)
    assert db.relay_once() == 0  # not retried before its time

    # Someone binds a queue for it; once its time comes it goes out, and only it.
    late = _queue(uri, db.exchange, routing_key="case_accepted")
    with Session(db.engine) as s:
        s.get(OutboxMessage, kept.id).next_attempt_at = None
        s.commit()
    assert db.relay_once() == 1
    assert _rows(db)["case_accepted"].published_at is not None
    assert [m.payload["event_type"] for m in _drain(uri, queue)] == ["case_received"]
    delivered = _drain(uri, late)
    assert [m.properties["message_id"] for m in delivered] == [kept.event_id]
    assert delivered[0].payload == kept.payload
