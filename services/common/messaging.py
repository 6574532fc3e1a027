"""Event consumption that neither loses nor repeats work.

``@on_event(source, event_type)`` declares a handler that

* consumes from a durable queue (quorum when ``EVENT_QUEUE_ARGUMENTS`` says so);
* runs inside a unit of work that first claims the event id for this consumer, so a redelivered
  event changes nothing twice (idempotent inbox, committed with the handler's own writes);
* on a transient failure (database or broker away) puts the message back after a pause;
* on any other failure (a poison message) moves it to the dead-letter queue
  ``envgrid.dead-letter`` with the error in its headers, then acks it: visible, replayable
  (``python -m infra.dlq``), and not looping.
"""
from __future__ import annotations

import functools
import json
import logging
import socket
import traceback
from datetime import datetime, timezone

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError as KombuOperationalError
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.timer import Timer
from sqlalchemy.exc import DBAPIError, OperationalError

from services.common.unit_of_work import AlreadyProcessed

log = logging.getLogger(__name__)

DEAD_LETTER_QUEUE = "envgrid.dead-letter"


def dead_letter_queue() -> Queue:
    return Queue(DEAD_LETTER_QUEUE, exchange=Exchange(""), routing_key=DEAD_LETTER_QUEUE,
                 durable=True)


def is_transient(exc: BaseException) -> bool:
    """Failures that go away by themselves: retry them instead of dead-lettering."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (ConnectionError, socket.error, TimeoutError, eventlet.Timeout,
                            KombuOperationalError, AmqpConnectionError))


class ReliableEventHandler(EventHandler):
    retry_pause = 1.0

    def setup(self):
        super().setup()
        arguments = self.container.config.get("EVENT_QUEUE_ARGUMENTS") or {}
        if isinstance(arguments, str):  # from the environment, as JSON
            arguments = json.loads(arguments)
        if arguments:
            self.queue.queue_arguments = dict(arguments)
        self.retry_pause = float(self.container.config.get("EVENT_RETRY_PAUSE", 1.0))
        self._dlq_publisher = Publisher(self.container.config["AMQP_URI"], use_confirms=True,
                                        declare=[dead_letter_queue()])

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            return self.queue_consumer.ack_message(message)
        exc = exc_info[1]
        if is_transient(exc):
            log.warning("transient failure in %s, requeueing: %s", self.method_name, exc)
            eventlet.sleep(self.retry_pause)
            return self.queue_consumer.requeue_message(message)
        try:
            self._dead_letter(message, exc_info)
        except Exception:  # cannot park it safely: keep it in its queue rather than lose it
            log.exception("dead-lettering failed; requeueing")
            eventlet.sleep(self.retry_pause)
            return self.queue_consumer.requeue_message(message)
        self.queue_consumer.ack_message(message)

    def _dead_letter(self, message, exc_info):
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        headers = {
            "x-envgrid-error": error[:2000],
            "x-envgrid-consumer": f"{self.container.service_name}.{self.method_name}",
            "x-envgrid-exchange": message.delivery_info.get("exchange", ""),
            "x-envgrid-routing-key": message.delivery_info.get("routing_key", ""),
            "x-envgrid-queue": self.queue.name,
            "x-envgrid-failed-at": datetime.now(timezone.utc).isoformat(),
        }
        log.error("poison message moved to %s: %s", DEAD_LETTER_QUEUE, headers)
        self._dlq_publisher.publish(message.body, exchange="", routing_key=DEAD_LETTER_QUEUE,
                                    headers=headers, serializer=None,
                                    content_type=message.content_type,
                                    content_encoding=message.content_encoding)


def on_event(source: str, event_type: str, unless=None, batched: bool = False):
    """Declare an idempotent handler ``fn(self, uow, payload)`` for ``source``'s ``event_type``.

    The service must have its ``Database`` dependency as ``self.db``. ``unless(self, payload)``,
    when given and true, says the event asks nothing of this consumer: it is acked without a
    transaction (a pure check on the payload and configuration, so a redelivery decides alike).
    ``batched`` runs the events that arrive together (``BatchedEventHandler``) in one unit of
    work, each claimed for this consumer and handled with its own actor, and one commit.
    """

    def decorator(fn):
        consumer = fn.__qualname__
        if batched:
            @functools.wraps(fn)
            def each(self, uow, payloads):
                claimed = uow.first_claims([p["event_id"] for p in payloads], consumer)
                for payload in payloads:
                    if payload["event_id"] in claimed:
                        claimed.discard(payload["event_id"])  # twice in one batch: once
                        uow.actor = payload.get("actor")
                        fn(self, uow, payload)

            return on_events(source, event_type, unless)(each)

        @functools.wraps(fn)
        def handler(self, payload):
            if unless is not None and unless(self, payload):
                return None
            try:
                with self.db.unit_of_work(actor=payload.get("actor")) as uow:
                    uow.claim(payload["event_id"], consumer)
                    result = fn(self, uow, payload)
                    uow.commit()
                    return result
            except AlreadyProcessed:
                log.debug("%s already handled %s", consumer, payload.get("event_id"))
                return None

        # nameko checks entrypoint signatures against the wrapper, not the wrapped function.
        del handler.__wrapped__
        return ReliableEventHandler.decorator(source, event_type)(handler)

    return decorator


class BatchedEventHandler(ReliableEventHandler):
    """Hands its worker the events that arrived together, in one list of up to ``EVENT_BATCH``
    (at most the prefetch window). One transaction and one commit serve the whole batch,
    instead of one per event.

    A batch starts as soon as fewer than ``EVENT_BATCHES_IN_FLIGHT`` (1) of this handler's
    batches are running: an event that comes alone is handled at once, not after a wait.
    Otherwise the events gather until a running batch ends, or at the latest
    ``EVENT_BATCH_LINGER_SECONDS`` after the first of them: the busier the consumer, the larger
    its batches. With 0, every batch waits for the linger (the most batching, the most latency).

    The batch's messages are acked only after its worker returns (its transaction committed);
    a transient failure puts them all back; any other failure has each event handled alone,
    so only a poison message goes to the dead-letter queue and the rest are handled once."""

    def setup(self):
        super().setup()
        cfg = self.container.config
        self.batch_size = max(1, min(int(cfg.get("EVENT_BATCH", 100)),
                                     self.container.max_workers))
        self.linger = float(cfg.get("EVENT_BATCH_LINGER_SECONDS", 0.05))
        self.in_flight_limit = max(0, int(cfg.get("EVENT_BATCHES_IN_FLIGHT", 1)))
        self._in_flight = 0
        self._buffer: list = []
        self._timer = None

    def stop(self):
        # Hand over what is buffered rather than leave it unacked (put back when the connection
        # closes, and handled again by another instance or after the restart).
        self._flush()
        super().stop()
        self._flush()

    def handle_message(self, body, message):
        self._buffer.append((body, message))
        if len(self._buffer) >= self.batch_size or self._in_flight < self.in_flight_limit:
            self._flush()
        elif self._timer is None:
            self._timer = self.container.spawn_managed_thread(self._flush_later)

    def _flush_later(self):
        eventlet.sleep(self.linger)
        self._timer = None
        self._flush()

    def _flush(self):
        batch, self._buffer = self._buffer, []
        if batch:
            self._in_flight += 1
            if not self._spawn([body for body, _ in batch], [message for _, message in batch]):
                self._in_flight -= 1

    def _spawn(self, bodies, messages, handle_result=None) -> bool:
        try:
            self.container.spawn_worker(
                self, (bodies,), {}, handle_result=handle_result or functools.partial(
                    self.handle_batch_result, bodies, messages))
            return True
        except ContainerBeingKilled:
            for message in messages:
                self.queue_consumer.requeue_message(message)
            return False

    def handle_batch_result(self, bodies, messages, worker_ctx, result=None, exc_info=None):
        try:
            return self._settle(bodies, messages, result, exc_info)
        finally:
            self._in_flight -= 1
            if self._in_flight < self.in_flight_limit:
                self._flush()  # what gathered meanwhile

    def _settle(self, bodies, messages, result, exc_info):
        if exc_info is None:
            for message in messages:
                self.queue_consumer.ack_message(message)
        elif is_transient(exc_info[1]):
            log.warning("transient failure in %s, requeueing %d events: %s", self.method_name,
                        len(messages), exc_info[1])
            eventlet.sleep(self.retry_pause)
            for message in messages:
                self.queue_consumer.requeue_message(message)
        elif len(messages) == 1:
            self.handle_message_processed(messages[0], result, exc_info)
        else:  # find the poison: each event alone, acked or dead-lettered on its own
            for body, message in zip(bodies, messages):
                self._spawn([body], [message], functools.partial(self.handle_result, message))
        return result, exc_info


def on_events(source: str, event_type: str, unless=None):
    """Declare a handler ``fn(self, uow, payloads)`` for batches of ``source``'s
    ``event_type`` (``BatchedEventHandler``), run in one unit of work. ``unless`` is as for
    ``on_event``: the events it picks are left out, and a batch of only those opens no
    transaction.

    There is no inbox claim: the handler's writes must themselves be idempotent by event id
    (rows unique by it, inserted unless present), since a batch may hold an event again after
    a crash before the ack, or the same event twice (published again by a relay)."""

    def decorator(fn):
        @functools.wraps(fn)
        def handler(self, payloads):
            if unless is not None:
                payloads = [p for p in payloads if not unless(self, p)]
                if not payloads:
                    return None
            with self.db.unit_of_work() as uow:
                result = fn(self, uow, payloads)
                uow.commit()
                return result

        del handler.__wrapped__
        return BatchedEventHandler.decorator(source, event_type)(handler)

    return decorator


class ConfiguredTimer(Timer):
    """A timer whose interval comes from config (``key``), so tests and deployments can tune
    how often a sweep runs without touching code."""

    def __init__(self, key: str, default: float, **kwargs):
        self.key = key
        self.default = default
        super().__init__(interval=default, **kwargs)

    def setup(self):
        self.interval = float(self.container.config.get(self.key, self.default))
        super().setup()


def every(key: str, default: float, limit: float = 120):
    """A timer entrypoint firing every ``config[key]`` seconds. nameko waits for one tick's
    worker before the next, so a tick that hung on a dead connection would stop the timer for
    good: each tick is cut off after ``limit`` seconds instead, and the next one starts over."""

    def decorator(fn):
        @functools.wraps(fn)
        def tick(self):
            try:
                with eventlet.Timeout(limit):
                    return fn(self)
            except eventlet.Timeout:
                log.error("%s took longer than %s s; cut off", fn.__qualname__, limit)
                return None

        del tick.__wrapped__
        return ConfiguredTimer.decorator(key, default)(tick)

    return decorator
