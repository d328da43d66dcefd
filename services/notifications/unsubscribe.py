"""The page behind the unsubscribe link in appointment reminders (``/unsubscribe/<token>``). Opening it only
asks; the POST unsubscribes, so mail scanners that prefetch links change nothing. Essential messages (changes,
cancellations, questionnaires) still go out. The opt-out is announced (``client.opted_out``) so the front desk
sees it on the client's consent trail; only the desk can lift it, with the client's confirmation."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from services.notifications import deliveries
from services.notifications.kinds import NON_ESSENTIAL
from services.notifications.models import Contact, Delivery
from shared import links
from shared.db import utcnow
from shared.events import catalog as events
from shared.messaging.outbox import emit
from shared.statuses import DeliveryStatus
from shared.unit_of_work import transaction
from shared.web import settings_of

bp = Blueprint("unsubscribe", __name__, template_folder="templates")
MAX_AGE = 365 * 24 * 3600
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    claim = links.verify(settings_of(current_app).link_secret, "unsubscribe", token, MAX_AGE)
    if claim is None:
        return render_template("pages/unsubscribe.html", state="invalid"), 404, HEADERS
    if request.method == "GET":
        return render_template("pages/unsubscribe.html", state="ask"), 200, HEADERS
    with transaction() as session:
        contact = session.get(Contact, claim["c"])
        if contact is not None:
            # Announced at every use, even when already unsubscribed here: the desk may have lifted it since,
            # and that lift may still be on its way to us (it is then ignored: see handlers.reminders_resumed).
            contact.opted_out, contact.opted_out_at = True, utcnow()
            for delivery in session.scalars(
                select(Delivery).where(
                    Delivery.recipient_id == contact.id,
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.template.in_(NON_ESSENTIAL),
                )
            ):
                deliveries.cancel(session, delivery, "unsubscribed")
            emit(
                session,
                events.CLIENT_OPTED_OUT,
                {"client_id": contact.id, "opted_out_at": contact.opted_out_at},
                subject=contact.id,
            )
    return render_template("pages/unsubscribe.html", state="done"), 200, HEADERS
