"""Tables of the complaints service (受理): cases, their confidential complainants, their history."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.db import BigId, UTCDateTime


class Base(DeclarativeBase):
    pass


class Case(Base):
    """A case (案件): one report or complaint, from receipt to feedback."""

    __tablename__ = "case"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32), index=True)
    categories: Mapped[list] = mapped_column(JSON, default=list)
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    status: Mapped[str] = mapped_column(String(16), index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    enterprise: Mapped[str | None] = mapped_column(String(200), index=True)
    # The river it is on (name or code), given at intake or derived from the location.
    river: Mapped[str | None] = mapped_column(String(60))
    incident: Mapped[str | None] = mapped_column(String(8))
    media: Mapped[list] = mapped_column(JSON, default=list)
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accept_due: Mapped[date | None] = mapped_column(Date)
    # The acceptance limit (受理时限) as instants, and what the acceptance sweep has raised.
    accept_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accept_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accept_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accept_overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The next moment the sweep must look at this undecided case; NULL when nothing is pending.
    accept_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decline_reason: Mapped[str | None] = mapped_column(String(32))
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)
    merged_into: Mapped[str | None] = mapped_column(String(32))
    referred_from: Mapped[str | None] = mapped_column(String(12))
    task_id: Mapped[str | None] = mapped_column(String(32))
    assignee_name: Mapped[str | None] = mapped_column(String(64))
    agency: Mapped[str | None] = mapped_column(String(120))
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[str | None] = mapped_column(Text)
    founded: Mapped[bool | None] = mapped_column(Boolean)
    rating_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    rating_score: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    complainant: Mapped["Complainant | None"] = relationship(back_populates="case",
                                                             uselist=False)
    history: Mapped[list["CaseHistory"]] = relationship(back_populates="case",
                                                        order_by="CaseHistory.id")


class Complainant(Base):
    """The complainant (举报人). Confidential: never leaves this service except to intake staff
    of the handling region and to notify, at send time, to reach this very person."""

    __tablename__ = "complainant"

    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(64))
    phone_raw: Mapped[str | None] = mapped_column(String(40))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    phone_kind: Mapped[str | None] = mapped_column(String(24))
    phone_flag: Mapped[str | None] = mapped_column(String(24))
    email: Mapped[str | None] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")

    case: Mapped[Case] = relationship(back_populates="complainant")


class CaseHistory(Base):
    """One step in a case's life: who did what, when."""

    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="history")


class MonitoringReading(Base):
    """An hourly-average reading from online monitoring (在线监测小时均值); kept once per
    enterprise, outlet, pollutant and hour, so a feed that resends changes nothing."""

    __tablename__ = "monitoring_reading"
    __table_args__ = (UniqueConstraint("enterprise", "outlet", "pollutant", "hour",
                                       name="uq_reading_once"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enterprise: Mapped[str] = mapped_column(String(200))
    outlet: Mapped[str] = mapped_column(String(64))
    pollutant: Mapped[str] = mapped_column(String(32))
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    value: Mapped[float] = mapped_column(Float)
    limit: Mapped[float] = mapped_column(Float)
    case_no: Mapped[str | None] = mapped_column(String(32), index=True)
