"""Pooled PostgreSQL connections are checked only after they have been idle: one the server
dropped while it sat in the pool is replaced before use, unseen by the caller; one used moments
ago is not pinged again (a round trip per unit of work under load), and if the server dropped it
even so, its first statement fails once and the pool starts afresh."""
from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from services.common import db
from tests.fixtures import create_databases, drop_databases


@pytest.fixture(scope="module")
def url():
    urls = create_databases("ping" + uuid.uuid4().hex[:6], ("scratch",), migrate=False)
    yield urls["scratch"]
    drop_databases(urls)


def _pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def _terminate(url, pid) -> None:
    admin = create_engine(url)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()
    time.sleep(0.1)


def test_a_connection_dropped_while_idle_is_replaced_unseen(url, monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.2)
    engine = db.make_engine(url, pool_size=1)
    try:
        first = _pid(engine)
        _terminate(url, first)
        time.sleep(0.3)
        assert _pid(engine) != first  # no error: the ping found it dead and the pool reconnected
    finally:
        engine.dispose()


def test_a_connection_in_use_is_not_pinged_and_a_drop_fails_once(url, monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600)
    engine = db.make_engine(url, pool_size=1)
    try:
        first = _pid(engine)
        assert _pid(engine) == first  # the same connection, used again at once
        _terminate(url, first)
        with pytest.raises(OperationalError):  # not pinged: its first statement finds it dead
            _pid(engine)
        assert _pid(engine) != first  # the pool dropped the dead one
    finally:
        engine.dispose()
