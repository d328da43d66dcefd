"""A clinician's iCalendar feed (RFC 5545) at a secret URL: times and types only, never a client's name."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Blueprint, Response, abort
from icalendar import Calendar, Event
from sqlalchemy import select

from services.scheduling.booking import ACTIVE_STATUSES
from services.scheduling.models import Appointment, AppointmentType, Clinician
from shared.db import utcnow
from shared.unit_of_work import transaction

bp = Blueprint("calendar", __name__)


def build_calendar(clinician: Clinician, rows: list[tuple[Appointment, AppointmentType]], domain: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Attune//Scheduling//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Attune appointments")
    for appt, appt_type in rows:
        event = Event()
        event.add("uid", f"{appt.id}@{domain}")
        event.add("dtstamp", appt.updated_at)
        event.add("dtstart", appt.starts_at)
        event.add("dtend", appt.ends_at)
        event.add("sequence", appt.version - 1)
        event.add("summary", f"{appt_type.name} ({'telehealth' if appt.modality == 'telehealth' else 'in person'})")
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()


@bp.get("/calendar/<token>.ics")
def feed(token: str):
    digest = hashlib.sha256(token.encode()).hexdigest()
    with transaction() as session:
        clinician = session.scalar(select(Clinician).where(Clinician.calendar_token_hash == digest))
        if clinician is None:
            abort(404)
        since = utcnow() - timedelta(days=90)
        rows = session.execute(
            select(Appointment, AppointmentType)
            .join(AppointmentType, AppointmentType.id == Appointment.type_id)
            .where(
                Appointment.clinician_id == clinician.id,
                Appointment.status.in_(ACTIVE_STATUSES),
                Appointment.ends_at > since,
            )
            .order_by(Appointment.starts_at)
        ).all()
        body = build_calendar(clinician, rows, "attune.local")
    return Response(body, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=300"})
