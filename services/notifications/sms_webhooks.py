"""The SMS provider's webhooks: delivery reports (``/sms/status``) and the client's replies (``/sms/inbound``).

Both are public routes that trust nothing but the provider's signature (``X-Twilio-Signature``: HMAC-SHA1 of
the public URL and the sorted form fields, keyed with the account's auth token, checked by the ``twilio``
package). An unsigned or wrongly signed request is refused with 403 and changes nothing.

A reply with a stop word (the provider's list: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, and the like) ends
consent to texts for every client with that number: pending texts are withdrawn, and ``client.texts_stopped``
puts it on the desk's consent trail. Consent to texts again goes through the front desk, with the client's
confirmation, never through a reply.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.notifications import deliveries
from services.notifications.models import Contact, Delivery
from shared import logs
from shared.db import utcnow
from shared.events import catalog as events
from shared.messaging.outbox import emit
from shared.statuses import DeliveryStatus
from shared.unit_of_work import transaction
from shared.web import settings_of

bp = Blueprint("sms", __name__)
log = logs.get("notifications.sms")
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "STOP ALL"})
EMPTY_REPLY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _verified() -> None:
    """Refuse a request the provider did not sign, checked against the URL the provider was given (the public
    one: behind a proxy, ``request.url`` is not it)."""
    settings = settings_of(current_app)
    url = settings.notifications_url + request.path
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.sms_auth_token).validate(url, request.form.to_dict(), signature):
        log.warning("sms.unsigned_webhook", path=request.path)
        abort(403)


@bp.post("/sms/status")
def status():
    _verified()
    ref, state = request.form.get("MessageSid", ""), request.form.get("MessageStatus", "")
    if ref and state:
        with transaction() as session:
            deliveries.text_status(session, ref, state, request.form.get("ErrorCode"), utcnow())
    return Response(status=204)


@bp.post("/sms/inbound")
def inbound():
    _verified()
    word = " ".join(request.form.get("Body", "").upper().split())
    if word in STOP_WORDS:
        stop_texts(request.form.get("From", ""))
    else:
        log.info("sms.reply_ignored")  # replies are not read by anyone: the texts say to contact the practice
    return Response(EMPTY_REPLY, mimetype="text/xml")


def stop_texts(number: str) -> int:
    """End consent to texts for the clients with ``number``; returns how many."""
    now = utcnow()
    with transaction() as session:
        clients = session.scalars(select(Contact).where(Contact.phone == number, Contact.kind == "client")).all()
        for contact in clients:
            contact.consent_sms, contact.sms_stopped_at = False, now
            for delivery in session.scalars(
                select(Delivery).where(
                    Delivery.recipient_id == contact.id,
                    Delivery.channel == "sms",
                    Delivery.status == DeliveryStatus.PENDING,
                )
            ):
                deliveries.cancel(session, delivery, "the client replied STOP")
            emit(session, events.CLIENT_TEXTS_STOPPED, {"client_id": contact.id, "stopped_at": now}, subject=contact.id)
    log.info("sms.stopped", clients=len(clients))
    return len(clients)
