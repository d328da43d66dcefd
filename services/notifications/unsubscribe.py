"""The page behind the unsubscribe link in appointment reminders (``/unsubscribe/<token>``). Opening it only
asks; the POST unsubscribes, so mail scanners that prefetch links change nothing. Essential messages (changes,
cancellations, questionnaires) still go out."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from services.notifications.kinds import NON_ESSENTIAL
from services.notifications.models import Contact, Delivery
from shared import links
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
            contact.opted_out = True
            for delivery in session.scalars(
                select(Delivery).where(
                    Delivery.recipient_id == contact.id,
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.template.in_(NON_ESSENTIAL),
                )
            ):
                delivery.status, delivery.last_error = DeliveryStatus.CANCELLED, "unsubscribed"
    return render_template("pages/unsubscribe.html", state="done"), 200, HEADERS
