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
