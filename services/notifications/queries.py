"""Read models: the delivery log. It shows who was sent what kind of message, when, and how it went: never a
message's content, and never the context kept for a pending message (it can hold a questionnaire link)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.notifications.models import Delivery


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
