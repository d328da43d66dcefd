"""After a restore from backup: what notifications said on its own topic after the backup, written back into
its ledger before its worker starts, so that the events it consumes again find those messages already sent
(or failed, or withdrawn) and send nothing twice. A message still waiting at the time of the loss had said
nothing yet: consuming its cause again schedules it again."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.models import Contact, Delivery
from shared.events.envelope import Event
from shared.statuses import DeliveryStatus

OUTCOMES = {
    "notification.sent": DeliveryStatus.SENT,
    "notification.failed": DeliveryStatus.FAILED,
    "notification.cancelled": DeliveryStatus.CANCELLED,
}


def recover(session: Session, event: Event, settings) -> str:
    """Apply one of notifications' own events; returns ``restored``, ``already held`` or ``not restorable``."""
    name = event.name
    d = event.data
    if name in OUTCOMES:
        key = d.idempotency_key or f"{d.source_event_id}:{d.template}:{d.recipient_id}"
        row = session.scalar(select(Delivery).where(Delivery.idempotency_key == key)) or session.get(
            Delivery, d.delivery_id
        )
        status = OUTCOMES[name]
        if row is None:
            session.add(
                Delivery(
                    id=d.delivery_id,
                    idempotency_key=key,
                    template=d.template,
                    recipient_kind=d.recipient_kind,
                    recipient_id=d.recipient_id,
                    to_address="",  # not on the bus; the message is done
                    context={"alert_id": d.alert_id} if d.alert_id else {},
                    source_event_id=d.source_event_id,
                    subject_id=event.subject,
                    status=status,
                    sent_at=d.at if status == DeliveryStatus.SENT else None,
                    last_error=d.error_class,
                    due_at=d.at,
                    created_at=d.at,
                )
            )
            return "restored"
        if row.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
            row.status, row.last_error = status, d.error_class
            if status == DeliveryStatus.SENT:
                row.sent_at = d.at
            return "restored"
        return "already held"
    if name in ("client.opted_out", "client.texts_stopped"):
        contact = session.get(Contact, d.client_id)
        if contact is None:
            return "not restorable"
        if name == "client.opted_out":
            contact.opted_out, contact.opted_out_at = True, getattr(d, "opted_out_at", None) or event.time
        else:
            contact.consent_sms, contact.sms_stopped_at = False, d.stopped_at
        return "restored"
    return "not restorable"
