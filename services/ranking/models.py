"""Tables of the ranking service: its own copy of the event history, and the read model folded
from it. Replaying the history from position 0 rebuilds the read model from scratch."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import BigId, UTCDateTime


class Base(DeclarativeBase):
    pass


class RecordedEvent(Base):
    """Every event ranking has seen, in arrival order (the history it is built from)."""

    __tablename__ = "recorded_event"

    position: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    payload: Mapped[dict] = mapped_column(JSON)


class Checkpoint(Base):
    """How far the projector has folded the history into the read model."""

    __tablename__ = "checkpoint"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigId, default=0)


class CounterSet(Base):
    """The figures of one scope (a region or a grid) over one period (day, week or month)."""

    __tablename__ = "counter_set"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)


class CaseTrack(Base):
    """The per-case state the read model needs to join acceptance and sign-off (time to close)."""

    __tablename__ = "case_track"

    case_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
