"""The messaging tables as gauges (read at scrape time): the outbox backlog and its age, parked outbox rows,
rows published so far, and events parked while they wait for an entity from another topic."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.messaging.tables import OutboxMessage, ParkedEvent
from shared.metrics import counter, gauge


def messaging_state(service: str):
    """A ``DatabaseState`` reader for ``service``'s outbox and parked events."""

    def read(session: Session, now: datetime):
        waiting = (OutboxMessage.published_at.is_(None), OutboxMessage.parked_at.is_(None))
        unpublished, oldest = session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).where(*waiting)
        ).one()
        parked_rows = session.scalar(select(func.count()).where(OutboxMessage.parked_at.is_not(None)))
        published = session.scalar(select(func.count()).where(OutboxMessage.published_at.is_not(None)))
        parked_events = session.scalar(select(func.count()).select_from(ParkedEvent))
        families = [
            (gauge("attune_outbox_unpublished_rows", "Outbox rows waiting for the relay", ["service"]), unpublished),
            (
                gauge(
                    "attune_outbox_oldest_unpublished_age_seconds",
                    "Age of the oldest outbox row waiting for the relay (0: none waiting)",
                    ["service"],
                ),
                (now - oldest).total_seconds() if oldest is not None else 0.0,
            ),
            (
                gauge(
                    "attune_outbox_parked_rows",
                    "Outbox rows the relay parked as never publishable (attune-outbox list)",
                    ["service"],
                ),
                parked_rows,
            ),
            (
                counter("attune_outbox_published_rows", "Outbox rows published so far (kept rows)", ["service"]),
                published,
            ),
            (
                gauge(
                    "attune_consumer_parked_events",
                    "Events parked until an entity from another topic arrives",
                    ["service"],
                ),
                parked_events,
            ),
        ]
        for family, value in families:
            family.add_metric([service], value)
            yield family

    return read
