"""Notifications' ledger as gauges (read at scrape time): deliveries by kind and state, and how long the
oldest alert notice has been waiting to go out (the number that must never grow)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.notifications import kinds
from services.notifications.models import Delivery
from shared.metrics import gauge
from shared.statuses import DeliveryStatus

UNDELIVERED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


def notifications_state(session: Session, now: datetime):
    deliveries = gauge("attune_deliveries", "Deliveries in the ledger by kind and state", ["kind", "state"])
    for template, status, count in session.execute(
        select(Delivery.template, Delivery.status, func.count()).group_by(Delivery.template, Delivery.status)
    ).all():
        deliveries.add_metric([template, status], count)
    yield deliveries
    oldest = session.scalar(
        select(func.min(Delivery.created_at)).where(
            Delivery.template == kinds.ALERT_NOTICE.name, Delivery.status.in_(UNDELIVERED)
        )
    )
    age = gauge(
        "attune_oldest_undelivered_alert_notice_age_seconds",
        "Age of the oldest alert notice not yet accepted by the mail server (0: none waiting)",
    )
    age.add_metric([], (now - oldest).total_seconds() if oldest is not None else 0.0)
    yield age
