"""Scheduling's consumed events: delivery failures to show the front desk."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.scheduling.models import Client, DeliveryProblem
from shared.events.envelope import Event


def record_delivery_problem(session: Session, event: Event) -> None:
    d = event.data
    if d.recipient_kind != "client" or session.get(Client, d.recipient_id) is None:
        return  # alerts to therapists and the on-call address are not the front desk's to chase
    session.merge(
        DeliveryProblem(
            id=d.delivery_id,
            client_id=d.recipient_id,
            template=d.template,
            error=d.error_class,
            failed_at=d.at,
        )
    )
