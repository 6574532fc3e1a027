"""Publishing a batch of events with one wait for the broker's confirms.

nameko's ``Publisher`` waits for each message's confirm before it sends the next: a round trip
to RabbitMQ per event, and a producer checked out of a pool, a retry wrapper and a declare
check for each. The outbox relay publishes rows in batches, so it sends a whole batch back to
back on one confirm-mode channel and then reads the broker's answers: for each message an ack
(stored), a nack (refused, e.g. a full queue that rejects publishes) or, as ``mandatory``
asks, a return before the ack (no queue is bound for it yet). A message counts as published
only when acked and not returned; anything else stays in the outbox for a later attempt.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import eventlet
from kombu import Connection, Exchange
from kombu.serialization import dumps

log = logging.getLogger(__name__)


class PublishTimeout(Exception):
    """The broker did not confirm a batch in time; the connection is dropped and the rows stay."""


@dataclass
class BatchResult:
    """What became of each message of a batch, by the key it was published under."""

    sent: set = field(default_factory=set)
    unroutable: set = field(default_factory=set)
    refused: set = field(default_factory=set)


class ConfirmedPublisher:
    """Publishes persistent JSON messages to one exchange in confirmed batches.

    Not thread-safe: one relay (one green thread) owns it. Any failure drops the connection,
    so the next batch starts on a fresh one (after a broker restart the old one is dead)."""

    def __init__(self, amqp_uri: str, exchange: Exchange, timeout: float = 15.0, ssl=None):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.timeout = timeout
        self.ssl = ssl
        self._connection = None
        self._channel = None
        self._tag = 0  # the broker numbers a confirm channel's publishes from 1
        self._pending: dict[int, str] = {}
        self._acked: list[str] = []
        self._nacked: list[str] = []
        self._returned: set[str] = set()

    # --- the broker's answers (py-amqp calls these while we drain the connection) --------
    def _settle(self, delivery_tag: int, multiple: bool) -> list[str]:
        tags = ([t for t in self._pending if t <= delivery_tag] if multiple
                else [delivery_tag] if delivery_tag in self._pending else [])
        return [self._pending.pop(t) for t in tags]

    def _on_ack(self, delivery_tag, multiple):
        self._acked.extend(self._settle(delivery_tag, multiple))

    def _on_nack(self, delivery_tag, multiple):
        self._nacked.extend(self._settle(delivery_tag, multiple))

    def _on_return(self, exc, exchange, routing_key, message):
        self._returned.add(message.properties.get("message_id"))

    # --- connection ------------------------------------------------------------------------
    def _open(self):
        connection = Connection(self.amqp_uri, ssl=self.ssl, connect_timeout=5)
        connection.connect()
        channel = connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
        self.exchange(channel).declare()
        self._connection, self._channel, self._tag = connection, channel, 0

    def close(self):
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already dead: nothing to tidy
                log.debug("closing the publisher's connection failed", exc_info=True)

    # --- publishing ------------------------------------------------------------------------
    def publish_batch(self, messages) -> BatchResult:
        """Publish ``(key, routing_key, payload)`` triples in order; say what became of each
        key. Raises (and drops the connection) when the broker is away or too slow; then
        none of the batch counts as published, though some may have been: consumers are
        idempotent."""
        self._pending, self._acked, self._nacked, self._returned = {}, [], [], set()
        try:
            with eventlet.Timeout(self.timeout, PublishTimeout(
                    f"no confirm within {self.timeout} s")):
                if self._channel is None:
                    self._open()
                for key, routing_key, payload in messages:
                    content_type, encoding, body = dumps(payload, serializer="json")
                    message = self._channel.prepare_message(
                        body, content_type=content_type, content_encoding=encoding,
                        properties={"delivery_mode": 2, "message_id": key})
                    self._channel.basic_publish(message, exchange=self.exchange.name,
                                                routing_key=routing_key, mandatory=True)
                    self._tag += 1
                    self._pending[self._tag] = key
                while self._pending:
                    self._connection.connection.drain_events(timeout=self.timeout)
        except BaseException:
            self.close()
            raise
        acked = set(self._acked)
        return BatchResult(sent=acked - self._returned, unroutable=acked & self._returned,
                           refused=set(self._nacked))
