"""Read models: the delivery log. It shows who was sent what kind of message, when, and how it went: never a
message's content, and never the context kept for a pending message (it can hold a questionnaire link)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.notifications.deliveries import OPERATIONAL
from services.notifications.models import Delivery
from shared.statuses import DeliveryStatus


@dataclass(frozen=True)
class OperationalFault:
    error: str
    waiting: int
    at: datetime


def operational_fault(session: Session) -> OperationalFault | None:
    """The mail server refusing us (not a recipient): messages waiting whose last attempt failed that way."""
    waiting = select(Delivery).where(
        Delivery.status == DeliveryStatus.PENDING, Delivery.last_error.startswith(OPERATIONAL)
    )
    latest = session.scalar(waiting.order_by(Delivery.claimed_at.desc()).limit(1))
    if latest is None:
        return None
    count = session.scalar(select(func.count()).select_from(waiting.subquery()))
    return OperationalFault(latest.last_error.removeprefix(OPERATIONAL), count, latest.claimed_at)


def delivery_log(session: Session, args: dict) -> dict:
    stmt = select(Delivery)
    if args.get("recipient_id"):
        stmt = stmt.where(Delivery.recipient_id == args["recipient_id"])
    if args.get("status"):
        stmt = stmt.where(Delivery.status == args["status"])
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(
        stmt.order_by(Delivery.created_at.desc())
        .limit(args["page_size"])
        .offset((args["page"] - 1) * args["page_size"])
    ).all()
    return {"items": rows, "total": total, "page": args["page"], "page_size": args["page_size"]}
