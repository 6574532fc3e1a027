"""Database plumbing shared by every service: engines, the outbox and the inbox tables.

Each service owns one database (PostgreSQL in tests and production, one SQLite file per service
for a first run). Every service database holds, beside its domain tables:

* ``outbox``            events written in the same transaction as the change they describe,
                        published afterwards by the relay (transactional outbox);
* ``processed_message`` the ids of events already handled by each consumer (idempotent inbox).
"""
from __future__ import annotations

import functools
import time
from datetime import datetime

from datetime import timezone

from sqlalchemy import exc
from sqlalchemy import (JSON, BigInteger, DateTime, Integer, String, Text, TypeDecorator,
                        create_engine, event, func, text)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class MessagingBase(DeclarativeBase):
    """Metadata of the outbox and inbox tables present in every service database."""


BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps
    (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(
            timezone.utc)


class OutboxMessage(MessagingBase):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class ProcessedMessage(MessagingBase):
    __tablename__ = "processed_message"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                   server_default=func.now())


def make_engine(url: str, **kwargs):
    """An engine with sane defaults: WAL and a busy timeout for SQLite; for PostgreSQL,
    keepalives, a statement timeout and a ping of connections that have been idle."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # Find a dead server in seconds rather than hang on its socket, and bound every statement.
    kwargs.setdefault("connect_args", {"keepalives": 1, "keepalives_idle": 10,
                                       "keepalives_interval": 5, "keepalives_count": 3,
                                       "connect_timeout": 10,
                                       "options": "-c statement_timeout=60000"})
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_recycle", 1800)
    # An ORM flush that updates many rows sends them in pages, not one round trip per row.
    kwargs.setdefault("executemany_mode", "values_plus_batch")
    kwargs.setdefault("executemany_batch_page_size", 500)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine, IDLE_PING_SECONDS)
    return engine


IDLE_PING_SECONDS = 1.0


def ping_when_idle(engine, idle: float) -> None:
    """Check a pooled connection before use when it has been idle for ``idle`` seconds or more,
    and replace it if the server no longer answers (a restart, a network cut).

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip for each unit of work,
    a twentieth of every service's time under load. A connection checked in moments ago was
    working moments ago; if the server went away since, its first statement fails, the pool
    drops every connection older than that failure, and the work is retried (an event is put
    back, a client is told to try again)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn, record, proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle:
            return  # just connected, or just used
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as error:  # the pool connects afresh and checks out again
            raise exc.DisconnectionError(f"pooled connection gone: {error}") from error


def is_postgres(engine) -> bool:
    return engine.dialect.name == "postgresql"


def insert_rows(session, table, rows: list[dict]) -> None:
    """INSERT ``rows`` (dicts of column values, each naming the same columns; the other columns
    take their defaults) into a Core ``table`` in one statement.

    On PostgreSQL the values travel as one array per column, unnested by the server: the
    statement's text does not depend on how many rows there are, and nothing is formatted row
    by row on the client (a multi-row VALUES list was a third of a busy sweep's INSERT time).
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError("insert_rows: every row names the same columns")
    for col in table.columns:   # scalar Python-side defaults, as an ORM insert would apply
        if col.name not in names and col.default is not None:
            if not col.default.is_scalar:
                raise ValueError(f"insert_rows: give {table.name}.{col.name} (its default is "
                                 "worked out in Python)")
            names.append(col.name)
    if dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    params, casts = {}, []
    for i, name in enumerate(names):
        col = table.c[name]
        process = col.type._cached_bind_processor(dialect)
        default = col.default.arg if col.default is not None and col.default.is_scalar else None
        values = [row.get(name, default) for row in rows]
        params[f"c{i}"] = [process(v) for v in values] if process else values
        casts.append(f"CAST(:c{i} AS {col.type.compile(dialect)}[])")
    connection.execute(text(f"INSERT INTO {table.name} ({', '.join(names)}) "
                            f"SELECT * FROM unnest({', '.join(casts)})"), params)


@functools.lru_cache(maxsize=None)
def insert_unless_present(table, dialect: str):
    """An INSERT into ``table`` that does nothing when the row's unique key is already there
    (built once per table and dialect: idempotent consumers run it for every event)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()
