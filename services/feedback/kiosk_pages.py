"""The practice tablet's own pages (``/kiosk/<device token>``): a neutral screen that shows no client, and the
question it asks every few seconds: has staff handed it a questionnaire? The answer is that one form's link,
once. The token is the tablet's own credential (stored hashed), rate-limited like every bearer link."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from services.feedback import kiosk
from shared.db import utcnow
from shared.unit_of_work import transaction
from shared.web import settings_of

bp = Blueprint("kiosk", __name__, template_folder="templates", static_folder="static", static_url_path="/kiosk/static")
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.get("/kiosk/<token>")
def screen(token: str):
    with transaction() as session:
        device = kiosk.find(session, token)
        if device is None:
            return render_template("unavailable.html"), 404, HEADERS
        device.last_seen_at = utcnow()
    return render_template("kiosk.html", token=token), 200, HEADERS


@bp.get("/kiosk/<token>/next")
def next(token: str):  # noqa: A001 - the route's name
    with transaction() as session:
        device = kiosk.find(session, token)
        if device is None:
            return jsonify({}), 404, HEADERS
        link = kiosk.take(session, device, settings_of(current_app).link_key, utcnow())
    if link is None:
        return "", 204, HEADERS
    return jsonify({"url": f"/q/{link}?k={token}"}), 200, HEADERS
