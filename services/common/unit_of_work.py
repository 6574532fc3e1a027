"""Unit of work and transactional outbox.

A handler does all its writes, and records the events they cause, in one database transaction:

    with self.db.unit_of_work(actor) as uow:
        case = uow.session.get(Case, no)
        ...
        uow.emit(events.CASE_ACCEPTED, {...})
        uow.commit()

``emit`` only inserts an ``outbox`` row; nothing reaches the broker unless the commit succeeds.
The relay (a green thread of the ``Database`` dependency) then publishes pending rows in
batches, with one wait for the broker's confirms of each batch, and marks them published. A
crash between publish and mark re-publishes the row later: consumers are idempotent by
``event_id``, so at-least-once publishing plus idempotent consumers gives effectively-once
handling.
"""
from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange
from sqlalchemy import inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.common import config, events
from services.common.clock import clock_from_spec
from services.common.db import (OutboxMessage, ProcessedMessage, insert_rows,
                                insert_unless_present, is_postgres, make_engine)
from services.common.publisher import ConfirmedPublisher

log = logging.getLogger(__name__)


class AlreadyProcessed(Exception):
    """This consumer has handled this message before; the caller acks and does nothing."""


class UnitOfWork:
    def __init__(self, session: Session, service: str, now: datetime, actor: dict | None,
                 on_commit=None):
        self.session = session
        self.service = service
        self.now = now
        self.actor = actor
        self._on_commit = on_commit
        self.emitted: list[dict] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.rollback()
        self.session.close()

    def emit(self, event_type: str, data: dict) -> dict:
        """Record an event to publish once this unit of work commits (its outbox row is
        written by ``commit``, in the same transaction)."""
        payload = events.envelope(event_type, data, actor=self.actor, now=self.now)
        self.emitted.append(payload)
        return payload

    def claim(self, message_id: str, consumer: str) -> None:
        """Record that ``consumer`` handles ``message_id`` in this transaction (idempotent inbox).

        Raises AlreadyProcessed when it was handled before. A concurrent duplicate that slips
        past this check fails on the primary key at commit, which ``commit`` reports the same way.
        """
        if not self.first_claim(message_id, consumer):
            self.session.rollback()
            raise AlreadyProcessed(message_id)

    def first_claim(self, message_id: str, consumer: str) -> bool:
        """Claim ``message_id`` for ``consumer`` in this transaction; False (and nothing
        written) when it was handled before."""
        # One round trip: insert now, or learn that the key exists. A twin delivery running
        # concurrently waits here on the key and then inserts nothing, before doing any work.
        # A Core statement built once per dialect: every event pays for this, so it skips the
        # ORM's bulk-insert path and building the statement anew.
        connection = self.session.connection()
        stmt = insert_unless_present(ProcessedMessage.__table__, connection.dialect.name)
        return connection.execute(stmt, {"message_id": message_id,
                                         "consumer": consumer}).rowcount == 1

    def first_claims(self, message_ids, consumer: str) -> set[str]:
        """Claim several messages at once for ``consumer`` in this transaction (a batch): the
        ids claimed now, leaving out those handled before. On PostgreSQL one statement, its
        keys taken in sorted order so that two overlapping batches wait, not deadlock."""
        ids = sorted(set(message_ids))
        connection = self.session.connection()
        if connection.dialect.name != "postgresql":
            return {i for i in ids if self.first_claim(i, consumer)}
        rows = connection.exec_driver_sql(
            "INSERT INTO processed_message (message_id, consumer) "
            "SELECT m, %(consumer)s FROM unnest(%(ids)s::varchar[]) WITH ORDINALITY AS u(m, n) "
            "ORDER BY n ON CONFLICT DO NOTHING RETURNING message_id",
            {"ids": ids, "consumer": consumer})
        return {row[0] for row in rows}

    def commit(self) -> None:
        try:
            if self.emitted:
                # One INSERT for all the events of the transaction: an ORM object each was
                # half the flush of a sweep that warns hundreds of tasks.
                insert_rows(self.session, OutboxMessage.__table__, [
                    {"event_id": p["event_id"], "source": self.service,
                     "event_type": p["event_type"], "payload": p} for p in self.emitted])
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            if "processed_message" in str(exc.orig):
                raise AlreadyProcessed(str(exc.orig)) from exc
            raise
        if self.emitted and self._on_commit:
            self._on_commit()
        self.emitted = []

    def rollback(self) -> None:
        self.session.rollback()
        self.emitted = []


class Database(DependencyProvider):
    """Gives each worker a unit-of-work factory, and runs the outbox relay for the service."""

    def __init__(self, service_name: str, relay: bool = True):
        self.service_name = service_name
        self.relay_enabled = relay

    def setup(self):
        config.check_secrets()  # in production, no secret may come from a default
        cfg = self.container.config
        url = (cfg.get("DATABASE_URLS") or {}).get(self.service_name) or config.database_url(
            self.service_name)
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Reads that take several statements (a case, then its history) see one snapshot: at
        # READ COMMITTED each statement would see later commits, and a view could show an event
        # in the history without the status change committed with it.
        snapshot = (self.engine.execution_options(isolation_level="REPEATABLE READ")
                    if is_postgres(self.engine) else self.engine)
        self.snapshot_maker = sessionmaker(snapshot, expire_on_commit=False)
        self.clock = clock_from_spec(cfg.get("CLOCK"))
        self.exchange = get_event_exchange(self.service_name, cfg)
        # Declared here too: a service whose events nobody consumes yet still has its exchange,
        # so its events wait as unroutable (retried) instead of failing the relay.
        self.publish_timeout = float(cfg.get("OUTBOX_PUBLISH_TIMEOUT", 15))
        self.publisher = ConfirmedPublisher(cfg["AMQP_URI"], self.exchange,
                                            timeout=self.publish_timeout, ssl=cfg.get("AMQP_SSL"))
        self.poll_interval = float(cfg.get("OUTBOX_POLL_SECONDS", 0.5))
        self.batch = int(cfg.get("OUTBOX_BATCH", 200))
        self._kick = Event()
        self._running = False
        self._relay_gt = None

    def start(self):
        if self.relay_enabled:
            self._running = True
            self._relay_gt = self.container.spawn_managed_thread(self._relay_loop,
                                                                 identifier="outbox-relay")

    def stop(self):
        self._running = False
        self.kick()
        if self._relay_gt is not None:
            self._relay_gt.wait()
        self.publisher.close()
        self.engine.dispose()

    def kill(self):
        self._running = False
        if self._relay_gt is not None:
            self._relay_gt.kill()
        self.publisher.close()

    def kick(self):
        if not self._kick.ready():
            self._kick.send(True)

    def unit_of_work(self, actor: dict | None = None) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker(), self.service_name, self.clock.now(), actor,
                          on_commit=self.kick)

    def read(self) -> UnitOfWork:
        """A unit of work for queries only, on one consistent snapshot of the database."""
        return UnitOfWork(self.snapshot_maker(), self.service_name, self.clock.now(), None)

    def get_dependency(self, worker_ctx):
        return self

    # --- relay ----------------------------------------------------------------------------
    def _relay_loop(self):
        while self._running:
            try:
                sent = self.relay_once()
            except Exception:  # broker or database away: keep the rows, try again shortly
                log.warning("outbox relay for %s paused", self.service_name, exc_info=True)
                sent = 0
                eventlet.sleep(1.0)
            if sent == 0 and self._running:
                # A commit kicks us at once; the poll catches rows of other instances.
                self._kick.wait(self.poll_interval)
                self._kick = Event()

    def relay_once(self) -> int:
        """Publish one batch of pending outbox rows; return how many were published."""
        with self.sessionmaker() as session:
            now = datetime.now(timezone.utc)
            query = (select(OutboxMessage)
                     .where(OutboxMessage.published_at.is_(None),
                            or_(OutboxMessage.next_attempt_at.is_(None),
                                OutboxMessage.next_attempt_at <= now))
                     .order_by(OutboxMessage.id).limit(self.batch))
            if is_postgres(self.engine):
                # Several instances share the outbox: each row goes to exactly one relay.
                query = query.with_for_update(skip_locked=True)
            rows = session.scalars(query).all()
            if not rows:
                return 0
            result = self.publisher.publish_batch(
                (row.event_id, row.event_type, row.payload) for row in rows)
            sent = []
            for row in rows:
                if row.event_id in result.sent:
                    sent.append(row.id)
                    continue
                # No queue bound yet, or one refusing: keep it, retry later.
                row.attempts += 1
                row.last_error = "unroutable" if row.event_id in result.unroutable else "refused"
                row.next_attempt_at = now + _backoff(row.attempts)
            if sent:
                # One statement, not an UPDATE per row.
                session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(sent))
                                .values(published_at=now)
                                .execution_options(synchronize_session=False))
            session.commit()
            return len(sent)


def add_to(session: Session, owner, collection: str, entry) -> None:
    """Add ``entry`` (its foreign key already set) to ``owner``'s one-to-many ``collection``
    without loading the collection when it is not loaded yet. Appending would first load all of
    it: a query and an autoflush per owner, which was most of a deadline sweep's time. A later
    read of the collection flushes and then loads the entry with the rest."""
    if collection in inspect(owner).unloaded:
        session.add(entry)
    else:
        getattr(owner, collection).append(entry)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60.0, 0.5 * 2 ** min(attempts, 7)) * (0.5 + random.random() / 2))
