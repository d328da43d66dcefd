"""The progress report behind the link a therapist shares with the client (``/p/<token>``): single use (the
first opening consumes it), expiring after a week, never cached, and recorded (the share's ``opened_at``)."""

from __future__ import annotations

from flask import Blueprint, render_template

from services.feedback import progress_report
from services.feedback.models import ClientRecord
from shared.db import utcnow
from shared.unit_of_work import transaction

bp = Blueprint("shared_report", __name__, template_folder="templates")
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.get("/p/<token>")
def report(token: str):
    with transaction() as session:
        shared = progress_report.open_once(session, token, utcnow())
        if shared is None:
            return render_template("unavailable.html"), 404, HEADERS
        client = session.get(ClientRecord, shared.client_id)
        sections = progress_report.sections(session, client)
        name = client.preferred_name
    return render_template("progress_report.html", sections=sections, name=name, printable=True), 200, HEADERS
