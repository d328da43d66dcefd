"""Scheduling's tables. Times are stored in UTC; each clinician's timezone says how to show them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, utcnow
from shared.statuses import AppointmentStatus, ClientStatus


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class Clinician(Base):
    __tablename__ = "clinicians"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    working_hours: Mapped[dict] = mapped_column(JSON, default=dict)
    accepting_new_clients: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Who also hears about this clinician's clients' urgent alerts (another clinician; none: the practice's).
    supervisor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # When the identity provider disabled this (deactivated) clinician's accounts; None: not yet, or active.
    account_disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # +1 on every change; events carry it
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TimeOff(Base):
    __tablename__ = "time_off"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinician_id: Mapped[str] = mapped_column(ForeignKey("clinicians.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    label: Mapped[str] = mapped_column(String(120), default="Unavailable")


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    legal_name: Mapped[str] = mapped_column(String(120))
    preferred_name: Mapped[str] = mapped_column(String(120))
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    preferred_channel: Mapped[str] = mapped_column(String(10), default="email")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    consent_email: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_email_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Consent to text messages is separate from consent to email, with its own time (given or withdrawn).
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_sms_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The client used a reminder's unsubscribe link (notifications' ``client.opted_out``); only the desk lifts it.
    reminders_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    clinician_id: Mapped[str | None] = mapped_column(ForeignKey("clinicians.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(12), default=ClientStatus.ACTIVE)
    version: Mapped[int] = mapped_column(Integer, default=1)  # +1 on every change; events carry it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Episode(Base):
    """An episode of care: an intake opens one, discharge closes it; session numbers count within it."""

    __tablename__ = "episodes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sessions_completed: Mapped[int] = mapped_column(Integer, default=0)


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AppointmentType(Base):
    __tablename__ = "appointment_types"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # a slug: intake, individual, couples, ...
    name: Mapped[str] = mapped_column(String(80))
    minutes: Mapped[int] = mapped_column(Integer)
    modality: Mapped[str] = mapped_column(String(12), default="in_person")
    counts_as_session: Mapped[bool] = mapped_column(Boolean, default=True)


class Series(Base):
    __tablename__ = "series"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    rule: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    clinician_id: Mapped[str] = mapped_column(ForeignKey("clinicians.id"))
    room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    type_id: Mapped[str] = mapped_column(ForeignKey("appointment_types.id"))
    episode_id: Mapped[str | None] = mapped_column(ForeignKey("episodes.id"), nullable=True)
    series_id: Mapped[str | None] = mapped_column(ForeignKey("series.id"), nullable=True, index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    modality: Mapped[str] = mapped_column(String(12), default="in_person")
    telehealth_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    front_desk_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default=AppointmentStatus.BOOKED)
    confirmation: Mapped[str] = mapped_column(String(12), default="unconfirmed")
    cancelled_by: Mapped[str | None] = mapped_column(String(12), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    late_cancel: Mapped[bool] = mapped_column(Boolean, default=False)
    override_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    session_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # the ETag; also the iCalendar SEQUENCE
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_appointments_clinician_time", "clinician_id", "starts_at", "ends_at"),
        Index("ix_appointments_client_time", "client_id", "starts_at"),
        Index("ix_appointments_room_time", "room_id", "starts_at"),
    )


class AppointmentChange(Base):
    """History: every transition and move of an appointment, so a reschedule keeps its identity and its past."""

    __tablename__ = "appointment_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    appointment_id: Mapped[str] = mapped_column(ForeignKey("appointments.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    previous_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    previous_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class DeliveryProblem(Base):
    """A message to a client that could not be delivered (from notifications' ``notification.failed``), shown
    to the front desk so they can check the address or phone instead."""

    __tablename__ = "delivery_problems"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the delivery id
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    template: Mapped[str] = mapped_column(String(60))
    error: Mapped[str | None] = mapped_column(String(120), nullable=True)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(80), nullable=True)  # the staff member's subject
    resolution_note: Mapped[str | None] = mapped_column(String(500), nullable=True)  # e.g. "address corrected"


class ConsentChange(Base):
    """The consent trail: each time what the client agreed to receive changed, who changed it, how the client
    said so, and why. Never edited; the newest row per ``channel`` is the current state."""

    __tablename__ = "consent_changes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # "email" (questionnaires by email) or "reminders"
    given: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(80))  # a staff member's subject, or "client" for the unsubscribe link
    how: Mapped[str] = mapped_column(String(40))  # e.g. "at registration", "unsubscribe link", "by phone"
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)


class ClientMessage(Base):
    """The message log the front desk sees: what became of each message to a client (from notifications'
    ``notification.sent/failed/cancelled``), never its body."""

    __tablename__ = "client_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the delivery id
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    template: Mapped[str] = mapped_column(String(60))
    source_event_id: Mapped[str] = mapped_column(String(36), index=True)
    outcome: Mapped[str] = mapped_column(String(12))  # sent, failed, cancelled
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(120), nullable=True)  # how it failed or why it was not sent


class QuestionnaireView(Base):
    """A questionnaire assignment as the desk sees it (feedback's ``questionnaire.*`` events): which measures,
    when it was issued and until when, and whether it was completed or expired. No scores, no answers."""

    __tablename__ = "client_questionnaires"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the assignment id
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    issued_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    measures: Mapped[list | None] = mapped_column(JSON, nullable=True)
    trigger: Mapped[str | None] = mapped_column(String(12), nullable=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, completed, expired, skipped
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # the link first opened
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)  # why none was sent (skipped)


class ImportedRecord(Base):
    """Which row of an imported file became which entity: the key (kind and the file's external id, or a
    natural key) makes a re-run of the same file create nothing twice."""

    __tablename__ = "imported_records"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # clinician, client, appointment
    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(36))  # the clinician, client, or the first appointment/series
    source: Mapped[str] = mapped_column(String(40))  # the column mapping the file came through
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(80))


class ImportUpload(Base):
    """Files an admin uploaded on the import page, kept between the preview and the import (then emptied)."""

    __tablename__ = "import_uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80))
    mapping: Mapped[str] = mapped_column(String(40))
    announce: Mapped[bool] = mapped_column(Boolean, default=False)
    files: Mapped[dict] = mapped_column(JSON)  # kind -> the CSV text; emptied once imported
    preview: Mapped[dict] = mapped_column(JSON)  # the dry run's counts and rejected rows (kind -> CSV text)
    applied: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # the import's counts
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
