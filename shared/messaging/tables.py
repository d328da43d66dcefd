"""The tables every service database carries besides its own (their own metadata, migrated with the service):
the outbox, the inbox, parked events, the idempotent-request store and staff sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, utcnow


class MessagingBase(DeclarativeBase):
    pass


class OutboxMessage(MessagingBase):
    """An event committed with the state change that caused it, waiting for the relay to publish it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(120))
    topic: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    headers: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Set when this row kept failing while others were published (too large, unknown topic): it no longer
    # blocks its relay; `attune-outbox list|replay` shows and retries it.
    parked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )


class InboxMessage(MessagingBase):
    """A consumed event. The primary key turns a redelivery into an integrity error that means 'already done'."""

    __tablename__ = "inbox"

    consumer_group: Mapped[str] = mapped_column(String(80), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(120))
    topic: Mapped[str] = mapped_column(String(120))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(Integer)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotentRequest(MessagingBase):
    """The stored answer to a POST sent with an ``Idempotency-Key`` (scoped by the signed-in principal)."""

    __tablename__ = "idempotent_requests"

    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict] = mapped_column(JSON)
    headers: Mapped[dict] = mapped_column(JSON)
    created_at = mapped_column(UTCDateTime, default=utcnow)


class ParkedEvent(MessagingBase):
    """A consumed event whose handler needs something that has not arrived yet (a directory entry from another
    topic). Its inbox row is written with it, so a redelivery is a duplicate; it is handled as soon as the
    missing entity arrives, or dead-lettered with the reason after the park timeout."""

    __tablename__ = "parked_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer_group: Mapped[str] = mapped_column(String(80))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(120))
    waiting_for: Mapped[str] = mapped_column(String(120))  # e.g. "contact:<clinician id>"
    topic: Mapped[str] = mapped_column(String(120))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(Integer)
    key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    parked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("consumer_group", "event_id", name="uq_parked_group_event"),)


class StaffSession(MessagingBase):
    """A staff member signed in to this service's pages. The browser holds only a random id (its SHA-256 is
    the key here), so ending a session (logout, the provider's back-channel logout, a timeout) takes effect
    at once, and nothing about the person travels in the cookie."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), index=True)
    roles: Mapped[str] = mapped_column(String(120))  # comma separated Attune roles
    clinician_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider_session: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)  # the "sid" claim
    id_token: Mapped[str] = mapped_column(Text)  # the logout hint for the provider
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditRecord(MessagingBase):
    """Who read or changed what, append-only and hash-chained (each record's hash covers the one before), so a
    changed or deleted record is found by ``flask verify-audit``. Ids, routes and outcomes only: never a
    name, an answer or a note."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    roles: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(160))  # "GET scheduling.ClientById"
    resource: Mapped[str] = mapped_column(String(255))  # the route template, never the concrete URL
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    source_ip: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[int] = mapped_column(Integer)  # the HTTP status
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(MessagingBase):
    """The chain's last link (one row, locked by each writer so records are chained in order) and, after
    retention pruned older records, the link the remaining chain starts from."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    anchor_seq: Mapped[int] = mapped_column(Integer)  # records up to this one were pruned
    anchor_hash: Mapped[str] = mapped_column(String(64))
