"""Tables of the ranking service: its own copy of the event history, and the read model folded
from it. Replaying the history from position 0 rebuilds the read model from scratch."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String, Text, UniqueConstraint
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


class RegistrySnapshot(Base):
    """One county of a registry version as dispatch announced it (registry_published): sizes,
    grids and centroids, no people. Folded from the recorded history like the counters."""

    __tablename__ = "registry_snapshot"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    region_count: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict] = mapped_column(JSON)
# --- enterprise cards and open work (folded by services/ranking/books.py) ---------------------

class EnterpriseCase(Base):
    """A case that names an enterprise and was signed off founded at least once: its periods of
    standing as a confirmed violation (查实违法), ``[[confirmed_at, overturned_at|None], ...]``."""

    __tablename__ = "enterprise_case"

    case_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    enterprise_key: Mapped[str] = mapped_column(String(200), index=True)
    enterprise: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str | None] = mapped_column(String(12))
    category: Mapped[str | None] = mapped_column(String(32))
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    spans: Mapped[list] = mapped_column(JSON, default=list)


class EnterpriseCard(Base):
    """An enterprise's card now (红黄牌): level None once the rule no longer holds."""

    __tablename__ = "enterprise_card"

    enterprise_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    enterprise: Mapped[str] = mapped_column(String(200))
    level: Mapped[str | None] = mapped_column(String(8), index=True)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cases: Mapped[list] = mapped_column(JSON, default=list)
    as_of: Mapped[datetime | None] = mapped_column(UTCDateTime())  # latest moment folded
    # When time alone may change the card (the window passes); NULL when it cannot.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class CardChange(Base):
    """The card history: every moment an enterprise's card appeared, changed or left."""

    __tablename__ = "card_change"

    enterprise_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_level: Mapped[str | None] = mapped_column(String(8))
    to_level: Mapped[str | None] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    cases: Mapped[list] = mapped_column(JSON, default=list)


class OpenTask(Base):
    """A task's state as far as the weekly dispatch list (周调度) needs it; no person's name."""

    __tablename__ = "open_task"

    task_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(8), index=True)    # open | closed | done
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rung: Mapped[int] = mapped_column(Integer, default=0)


class Bulletin(Base):
    """The archive of published bulletins: one per kind, period and issuing scope (the unique
    key makes publication happen once across instances)."""

    __tablename__ = "bulletin"
    __table_args__ = (UniqueConstraint("kind", "period", "scope", name="uq_bulletin_once"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # monthly-2026-11-360300
    kind: Mapped[str] = mapped_column(String(8))
    period: Mapped[str] = mapped_column(String(10))
    scope: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    html: Mapped[str] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)  # rendered on first request
