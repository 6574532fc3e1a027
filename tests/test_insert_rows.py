"""``insert_rows`` (one INSERT for many rows; on PostgreSQL, arrays unnested by the server)
stores what an ordinary INSERT stores: JSON, UTC timestamps, NULLs, a column's Python-side
default and its server default, on PostgreSQL and SQLite alike."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, Integer, String, Text, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common.db import BigId, UTCDateTime, insert_rows
from tests.fixtures import database_of_its_own


class Base(DeclarativeBase):
    pass


class Entry(Base):
    __tablename__ = "entry"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class Noted(Base):
    __tablename__ = "noted"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, tmp_path):
    with database_of_its_own(request.param, tmp_path) as engine:
        Base.metadata.create_all(engine)
        yield engine


def test_rows_land_as_an_ordinary_insert_would_store_them(engine):
    at = datetime(2026, 11, 23, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    rows = [{"name": "预警", "at": at, "detail": {"rung": 2, "to": ["360323", None], "zh": "升级"}},
            {"name": "second", "at": at + timedelta(minutes=1), "detail": {}},
            {"name": "third", "at": at, "detail": {"quote": "it's \"quoted\", {braces}"}}]
    with Session(engine) as session:
        insert_rows(session, Entry.__table__, rows)
        insert_rows(session, Entry.__table__, [])   # nothing to write is no statement
        session.commit()
        stored = session.scalars(select(Entry).order_by(Entry.id)).all()
    assert [(e.name, e.at, e.detail, e.note, e.attempts) for e in stored] == [
        (r["name"], r["at"], r["detail"], None, 0) for r in rows]
    assert all(e.at.tzinfo == timezone.utc for e in stored)
    assert all(e.created_at is not None for e in stored)
    assert len({e.id for e in stored}) == 3


def test_a_value_given_wins_over_the_default(engine):
    at = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    with Session(engine) as session:
        insert_rows(session, Entry.__table__, [
            {"name": "a", "at": at, "detail": {}, "attempts": 3, "note": "n"}])
        session.commit()
        entry = session.scalars(select(Entry)).one()
    assert (entry.attempts, entry.note) == (3, "n")


def test_rows_naming_different_columns_are_refused(engine):
    at = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    with Session(engine) as session, pytest.raises(ValueError, match="same columns"):
        insert_rows(session, Entry.__table__, [{"name": "a", "at": at, "detail": {}},
                                               {"name": "b", "at": at, "detail": {}, "note": "x"}])


def test_a_column_whose_default_python_works_out_must_be_given(engine):
    with Session(engine) as session, pytest.raises(ValueError, match="noted.detail"):
        insert_rows(session, Noted.__table__, [{"id": 1}])
