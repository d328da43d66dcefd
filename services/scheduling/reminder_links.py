"""The pages behind an appointment reminder's links: confirm, or cancel outside the late-cancel window; inside it
the page explains the policy and records the client's "I can't come" as ``declined`` for the desk to follow up.

Links are signed by notifications (``shared.links``) and name the appointment and the start they were written
for. Opening one only shows a page; the change happens on the button's POST, so mail scanners that prefetch
links cannot confirm or cancel anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from services.scheduling import appointments as appts
from services.scheduling.booking import IllegalTransition, is_late_cancel
from services.scheduling.models import Appointment, Client
from shared import links
from shared.db import utcnow
from shared.statuses import AppointmentStatus
from shared.unit_of_work import transaction
from shared.web import settings_of

bp = Blueprint("reminder", __name__, template_folder="templates")
MAX_AGE = 60 * 24 * 3600
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(template: str, status: int = 200, **context):
    return render_template(f"reminder/{template}.html", **context), status, HEADERS


@bp.route("/r/<token>", methods=["GET", "POST"])
def reminder_link(token: str):
    claim = links.verify(settings_of(current_app).link_secret, "appointment", token, MAX_AGE)
    if claim is None:
        return _page("gone", 404)
    now = utcnow()
    window = timedelta(hours=settings_of(current_app).late_cancel_hours)
    with transaction() as session:
        row = session.execute(
            select(Appointment, Client.timezone)
            .join(Client, Client.id == Appointment.client_id)
            .where(Appointment.id == claim["a"])
        ).first()
        if row is None:
            return _page("gone", 404)
        appt, tz = row
        when = f"{appt.starts_at.astimezone(ZoneInfo(tz)):%A %d %B at %H:%M}"
        if (
            appt.starts_at != datetime.fromisoformat(claim["s"])
            or appt.status != AppointmentStatus.BOOKED
            or appt.starts_at <= now
        ):
            return _page("gone", 410)  # moved, cancelled or past: the email is out of date
        action = claim["do"]
        if action == "choose" and request.method == "POST":  # a text's one link: the client picks on the page
            action = request.form.get("choice", "")
            if action not in ("confirm", "cancel"):
                return _page("gone", 400)
        late = is_late_cancel(now, appt.starts_at, window)
        if request.method == "GET":
            return _page("ask", action=action, when=when, late=late, hours=int(window.total_seconds() // 3600))
        try:
            if action == "confirm":
                appts.set_confirmation(session, appt.id, "confirmed", now)
            elif late:  # too late to cancel online: the client's "I can't come" goes to the desk, who will call
                appts.set_confirmation(session, appt.id, "declined", now)
                return _page("done", action="declined", when=when)
            else:
                appts.cancel(
                    session,
                    appt.id,
                    now,
                    cancelled_by="client",
                    reason="cancelled from a reminder link",
                    late_window=window,
                    by="client-link",
                )
        except IllegalTransition:
            return _page("gone", 409)
    return _page("done", action=action, when=when)
