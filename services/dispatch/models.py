"""Tables of the dispatch service (派遣): the grid registry, tasks, their history, extensions."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.db import BigId, UTCDateTime


class Base(DeclarativeBase):
    pass


class GridNode(Base):
    """A grid (网格) at any level, with its boundary and its named people."""

    __tablename__ = "grid_node"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(32), index=True)
    boundary: Mapped[dict | None] = mapped_column(JSON)
    chief: Mapped[dict | None] = mapped_column(JSON)
    workers: Mapped[list] = mapped_column(JSON, default=list)
    population: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class RegistryVersion(Base):
    """Bumped on every import so that each dispatch instance reloads its in-memory index."""

    __tablename__ = "registry_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Task(Base):
    """A task (任务): a case made somebody's job, with a deadline (限时办结)."""

    __tablename__ = "task"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(32), index=True)
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    assignee: Mapped[dict] = mapped_column(JSON)
    unit: Mapped[str | None] = mapped_column(String(120))
    routed_by: Mapped[str] = mapped_column(String(16))
    has_complainant: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    rung: Mapped[int] = mapped_column(Integer, default=0)
    # The next moment the sweep must look at this task; NULL when nothing is pending.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(Text)
    founded: Mapped[bool | None] = mapped_column(Boolean)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    history: Mapped[list["TaskHistory"]] = relationship(back_populates="task",
                                                        order_by="TaskHistory.id")


class TaskHistory(Base):
    __tablename__ = "task_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    task: Mapped[Task] = relationship(back_populates="history")


class ExtensionRequest(Base):
    """An extension request (延期申请), decided by a supervisor."""

    __tablename__ = "extension_request"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task.id"), index=True)
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    requested_by: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
