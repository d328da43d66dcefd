"""Schema steps for the tables every service database carries (``shared/messaging/tables.py``). Each service
keeps its own Alembic history, so each has a revision for every step; the step itself is written once here."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime


def create_parked_events() -> None:
    op.create_table(
        "parked_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consumer_group", sa.String(length=80), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("waiting_for", sa.String(length=120), nullable=False),
        sa.Column("topic", sa.String(length=120), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("parked_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("consumer_group", "event_id", name="uq_parked_group_event"),
    )


def drop_parked_events() -> None:
    op.drop_table("parked_events")


def add_outbox_parked_at() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("parked_at", UTCDateTime(timezone=True), nullable=True))


def drop_outbox_parked_at() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("parked_at")


def create_staff_sessions() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("roles", sa.String(length=120), nullable=False),
        sa.Column("clinician_id", sa.String(length=64), nullable=True),
        sa.Column("provider_session", sa.String(length=255), nullable=True),
        sa.Column("id_token", sa.Text(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_staff_sessions_subject", "staff_sessions", ["subject"])
    op.create_index("ix_staff_sessions_provider_session", "staff_sessions", ["provider_session"])


def drop_staff_sessions() -> None:
    op.drop_table("staff_sessions")


def create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("roles", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=160), nullable=False),
        sa.Column("resource", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    for column in ("at", "subject", "client_id"):
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_seq", sa.Integer(), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    genesis = "0" * 64
    op.execute(
        sa.text(
            "INSERT INTO audit_head (id, last_seq, last_hash, anchor_seq, anchor_hash) VALUES (1, 0, :g, 0, :g)"
        ).bindparams(g=genesis)
    )


def drop_audit_log() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_log")
