"""Scheduling's read models for the API and the pages: client search, calendar rows, and availability for one
or many clinicians (three indexed queries: appointments, time off, room; then pure arithmetic per clinician,
kept fast on 200 clinicians and 100k appointments, see docs/performance.md)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from services.scheduling.availability import free_slots, working_in_range
from services.scheduling.booking import ACTIVE_STATUSES, RuleViolation, Slot
from services.scheduling.directory import get_or_404
from services.scheduling.models import Appointment, AppointmentType, Client, Clinician, TimeOff

MAX_RANGE = timedelta(days=31)


def matching_clients(stmt: Select, q: str) -> Select:
    """Narrow a query of clients to those whose legal or preferred name or email contains ``q`` (any case)."""
    like = f"%{q.lower()}%"
    return stmt.where(
        or_(
            func.lower(Client.legal_name).like(like),
            func.lower(Client.preferred_name).like(like),
            func.lower(Client.email).like(like),
        )
    )


def calendar_rows(session: Session, start: datetime, end: datetime, clinician_id: str | None = None):
    """Appointments overlapping [start, end) with the client's names and the type's name, in start order."""
    stmt = (
        select(Appointment, Client.preferred_name, Client.legal_name, AppointmentType.name)
        .join(Client, Client.id == Appointment.client_id)
        .join(AppointmentType, AppointmentType.id == Appointment.type_id)
        .where(Appointment.starts_at < end, Appointment.ends_at > start)
        .order_by(Appointment.starts_at)
    )
    if clinician_id:
        stmt = stmt.where(Appointment.clinician_id == clinician_id)
    return session.execute(stmt).all()


def find_availability(
    session: Session,
    *,
    clinician_ids: list[str] | None,
    type_id: str,
    start: datetime,
    end: datetime,
    room_id: str | None = None,
    step_minutes: int = 15,
    now: datetime | None = None,
) -> dict[str, list[Slot]]:
    if end <= start:
        raise RuleViolation("The search range must end after it starts.")
    if end - start > MAX_RANGE:
        raise RuleViolation("Search at most 31 days at a time.")
    appt_type = get_or_404(session, AppointmentType, type_id)
    stmt = select(Clinician).where(Clinician.active.is_(True))
    if clinician_ids:
        stmt = stmt.where(Clinician.id.in_(clinician_ids))
    clinicians = list(session.scalars(stmt))
    ids = [c.id for c in clinicians]
    busy: dict[str, list[Slot]] = defaultdict(list)
    for cid, s, e in session.execute(
        select(Appointment.clinician_id, Appointment.starts_at, Appointment.ends_at).where(
            Appointment.clinician_id.in_(ids),
            Appointment.starts_at < end,
            Appointment.ends_at > start,
            Appointment.status.in_(ACTIVE_STATUSES),
        )
    ):
        busy[cid].append(Slot(s, e))
    for cid, s, e in session.execute(
        select(TimeOff.clinician_id, TimeOff.starts_at, TimeOff.ends_at).where(
            TimeOff.clinician_id.in_(ids), TimeOff.starts_at < end, TimeOff.ends_at > start
        )
    ):
        busy[cid].append(Slot(s, e))
    room_busy: list[Slot] = []
    if room_id:
        room_busy = [
            Slot(s, e)
            for s, e in session.execute(
                select(Appointment.starts_at, Appointment.ends_at).where(
                    Appointment.room_id == room_id,
                    Appointment.starts_at < end,
                    Appointment.ends_at > start,
                    Appointment.status.in_(ACTIVE_STATUSES),
                )
            )
        ]
    window = Slot(start, end)
    duration, step = timedelta(minutes=appt_type.minutes), timedelta(minutes=step_minutes)
    return {
        c.id: free_slots(
            working_in_range(c.working_hours or {}, c.timezone, window),
            busy[c.id] + room_busy,
            duration,
            step,
            not_before=now,
        )
        for c in clinicians
    }
