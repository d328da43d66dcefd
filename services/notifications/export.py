"""Every message notifications sent or tried to send about one client, to hand back: metadata only (what kind
of message, to whom by role, which channel, when, what became of it), never a body, a link or an address."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.models import Delivery


def tables(session: Session, client_id: str) -> dict[str, list[dict]]:
    rows = session.scalars(select(Delivery).where(Delivery.subject_id == client_id).order_by(Delivery.created_at))
    return {
        "messages": [{
            "delivery_id": d.id, "template": d.template, "recipient": d.recipient_kind, "channel": d.channel,
            "status": d.status, "created_at": d.created_at.isoformat(), "due_at": d.due_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None, "attempts": d.attempts,
            "error": d.last_error,
        } for d in rows]
    }  # fmt: skip


def fhir(session: Session, client_id: str) -> list[dict]:
    return []  # messages are listed in the CSV files; they are not clinical records
