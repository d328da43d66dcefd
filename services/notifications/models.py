"""Notifications' tables: a contact directory projected from events, and the delivery ledger."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, utcnow
from shared.statuses import DeliveryStatus


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the client or clinician id
    kind: Mapped[str] = mapped_column(String(10))  # client | clinician
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    display_name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    consent_email: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)  # E.164
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False)  # separate from email; a STOP reply ends it
    # The latest STOP reply: a consent to texts the desk recorded before it (still in transit) does not undo it.
    sms_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    channel: Mapped[str] = mapped_column(String(10), default="email")  # the client's preferred channel
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)  # unsubscribed from non-essential mail
    # The latest unsubscribe: a lift the desk decided on before it (still in transit) does not undo it.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    supervisor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # clinicians only
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the newest directory event applied
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One message to one recipient. The unique key (source event or schedule id, template, recipient) makes
    enqueueing idempotent; the status is written before and after the SMTP conversation."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    template: Mapped[str] = mapped_column(String(60))
    recipient_kind: Mapped[str] = mapped_column(String(12))
    recipient_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(8), default="email")  # email | sms
    to_address: Mapped[str] = mapped_column(String(254))  # an email address or an E.164 number
    context: Mapped[dict] = mapped_column(JSON)  # what the template needs; secrets are cleared after sending
    source_event_id: Mapped[str] = mapped_column(String(36))
    subject_id: Mapped[str] = mapped_column(String(64))  # the client the message concerns (the Kafka key)
    # Groups scheduled messages that later events move or cancel, e.g. "appt-reminder:<appointment id>".
    schedule_key: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # retry window start
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    # The provider's id of a text message, so its delivery reports (delivered, failed) find the row.
    provider_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_deliveries_due", "status", "due_at"),)


class AppointmentRecord(Base):
    """What notifications knows of an appointment: enough to re-check a reminder at send time."""

    __tablename__ = "appointments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    clinician_id: Mapped[str] = mapped_column(String(36))
    appointment_type: Mapped[str] = mapped_column(String(40))
    modality: Mapped[str] = mapped_column(String(12))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12))  # booked, checked_in, cancelled, no_show, completed
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # The video link as it came on the bus: sealed with ATTUNE_LINK_KEY, opened only to render a message.
    sealed_telehealth_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)


class QuestionnaireRecord(Base):
    __tablename__ = "questionnaires"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the assignment id
    client_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(12))  # open, completed, expired
