"""Tables of the notify service: one row per message and recipient (the delivery log), and the
in-app inbox. A complainant's address is never stored: it is fetched from complaints at send
time and only its masked form is logged."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import BigId, UTCDateTime


class Base(DeclarativeBase):
    pass


class Delivery(Base):
    """A message to one recipient through one channel, recorded before it is sent."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("event_id", "recipient_key", "channel",
                                       name="uq_delivery_once"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    case_no: Mapped[str | None] = mapped_column(String(32), index=True)
    # The event's region: staff see the deliveries of their own region only.
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    role: Mapped[str] = mapped_column(String(24))
    recipient_key: Mapped[str] = mapped_column(String(96))
    recipient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(12))
    language: Mapped[str] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    address_masked: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(64))


class InAppMessage(Base):
    """A message readable in the app and through ``GET /api/v1/messages``."""

    __tablename__ = "inapp_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(BigId, unique=True)
    recipient_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    case_no: Mapped[str | None] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReplyCode(Base):
    """A rating request sent to a complainant (满意度回访): the short SMS reply code and the
    rating token of the link, so that a reply or a click can be matched to its case.

    The code is short and may repeat across cases; a reply is matched by code plus the sender's
    number, which is checked against complaints at that moment (no number is stored here)."""

    __tablename__ = "reply_code"
    __table_args__ = (UniqueConstraint("rating_token", name="uq_reply_code_token"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(8), index=True)
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    rating_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_via: Mapped[str | None] = mapped_column(String(8))  # sms / web


class InboundSms(Base):
    """An SMS reply the gateway handed us (上行短信), once per gateway message id: a callback the
    gateway repeats gets the first answer again. Sender and text are stored masked."""

    __tablename__ = "inbound_sms"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sender_masked: Mapped[str] = mapped_column(String(40))
    text_masked: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    case_no: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[dict] = mapped_column(JSON)


class RecipientPreference(Base):
    """A staff account's notification preferences (通知偏好): language and a work e-mail."""

    __tablename__ = "recipient_preference"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8))
    email: Mapped[str | None] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
