"""Feedback's tables: a caseload projection, questionnaire assignments, scored responses and alerts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, utcnow
from shared.statuses import AlertStatus, ClientStatus, QuestionnaireStatus


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class ClientRecord(Base):
    """What feedback knows of a client, projected from scheduling's client events."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    preferred_name: Mapped[str] = mapped_column(String(120))
    clinician_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    episode_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    consent_email: Mapped[bool] = mapped_column(Boolean, default=False)
    # Texts count as a way to send questionnaires for a client who prefers them (notifications picks the channel).
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=ClientStatus.ACTIVE)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the newest event applied
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EpisodeRecord(Base):
    """An episode of care as feedback knows it (scheduling's client events): its clinician, and when it ended,
    for the outcome reports. Started when first seen; ended by ``client.discharged``."""

    __tablename__ = "episodes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    clinician_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class ClinicianRecord(Base):
    __tablename__ = "clinicians"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the newest event applied
    supervisor_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


class BreakGlassGrant(Base):
    """A clinician opened a client outside their caseload, giving a reason: time-limited, audited, and shown
    to the client's own clinician and supervisor on the client's page."""

    __tablename__ = "break_glass_grants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    subject: Mapped[str] = mapped_column(String(255), index=True)
    clinician_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Assignment(Base):
    """A questionnaire sent to a client: one per triggering event, reachable by a single-use hashed token."""

    __tablename__ = "assignments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    clinician_id: Mapped[str] = mapped_column(String(36), index=True)
    episode_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    appointment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source_event_id: Mapped[str] = mapped_column(String(36), unique=True)
    trigger: Mapped[str] = mapped_column(String(12))
    session_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    measures: Mapped[list] = mapped_column(JSON)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    # open, completed, expired; no_consent or skipped (no link, with the reason in skip_reason)
    status: Mapped[str] = mapped_column(String(12), default=QuestionnaireStatus.OPEN)
    skip_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # the form first shown
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    kiosk_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # filled in on this practice tablet

    __table_args__ = (Index("ix_assignments_open_expiry", "status", "expires_at"),)


class Response(Base):
    """One measure's answers and score within an assignment. Item answers never leave this service."""

    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    episode_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    measure: Mapped[str] = mapped_column(String(40))
    measure_version: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict] = mapped_column(JSON)
    total: Mapped[float] = mapped_column(Float)
    band: Mapped[str | None] = mapped_column(String(40), nullable=True)
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)
    session_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_responses_client_measure", "client_id", "measure", "completed_at"),)


class Alert(Base):
    """One open alert per client and rule; a worse signal escalates it instead of opening another."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    clinician_id: Mapped[str] = mapped_column(String(36), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    measure: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(14), default=AlertStatus.OPEN)
    explanation: Mapped[str] = mapped_column(Text)
    assignment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    # The clinician who acknowledged (a supervisor on behalf of the therapist, say), shown by name, and why.
    acknowledged_by_clinician: Mapped[str | None] = mapped_column(String(36), nullable=True)
    acknowledgement_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    resolved_by_clinician: Mapped[str | None] = mapped_column(String(36), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # unacknowledged in time
    # Set when the notice to the therapist could not be delivered (shown on the dashboard).
    therapist_unreached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The expected-course model the scores were judged against (published default, reliable-change rule only,
    # or the practice's fitted curves and their version), so an alert can be re-examined after a refit.
    course_model: Mapped[str | None] = mapped_column(String(160), nullable=True)

    __table_args__ = (Index("ix_alerts_client_rule_status", "client_id", "rule", "status"),)


class CourseModel(Base):
    """A practice-fitted expected course for one measure (``flask fit-curves``): versioned, never changed
    once stored; the newest version of a measure is the one in use."""

    __tablename__ = "course_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    measure: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    episodes: Mapped[int] = mapped_column(Integer)  # finished episodes the fit saw
    percentile: Mapped[float] = mapped_column(Float)  # the failure boundary's residual percentile
    # {questionnaire number: [intercept, slope, margin, episodes, rmse]}
    sessions: Mapped[dict] = mapped_column(JSON)

    __table_args__ = (Index("ix_course_models_measure_version", "measure", "version", unique=True),)


class KioskDevice(Base):
    """A practice tablet in kiosk mode: it shows a neutral screen until staff hand it one client's
    questionnaire, then that form only. Reached by a device link whose token is stored hashed; the handed-over
    questionnaire link waits here sealed (``ATTUNE_LINK_KEY``) until the tablet picks it up, once."""

    __tablename__ = "kiosk_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(80))  # "Waiting room tablet": never a client's name
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pending_link: Mapped[str | None] = mapped_column(String(400), nullable=True)  # sealed
    pending_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProgressShare(Base):
    """A progress report shared with the client: a single-use, expiring link (stored hashed), who shared it
    and when the client opened it (shown on the client's page; every share is also in the audit trail)."""

    __tablename__ = "progress_shares"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    shared_by: Mapped[str] = mapped_column(String(80))
    shared_by_clinician: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MeasurementPlan(Base):
    """The practice default (scope "practice") or one client's override (scope = the client id)."""

    __tablename__ = "measurement_plans"

    scope: Mapped[str] = mapped_column(String(36), primary_key=True)
    intake_measures: Mapped[list] = mapped_column(JSON)
    session_measures: Mapped[list] = mapped_column(JSON)
    every_n_sessions: Mapped[int] = mapped_column(Integer, default=1)
    min_days_between: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
