"""Booking and the appointment lifecycle, atomic against concurrent requests.

Every change runs in the caller's transaction and emits exactly one event there. The overlap check and the
insert cannot race: on PostgreSQL the clinician, client and room rows are locked (always in that order, so
two bookings cannot deadlock); on SQLite every transaction is ``BEGIN IMMEDIATE`` (see ``shared.db``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.scheduling import booking
from services.scheduling.booking import RuleViolation, Slot
from services.scheduling.directory import get_or_404, open_episode
from services.scheduling.models import (
    Appointment,
    AppointmentChange,
    AppointmentType,
    Client,
    Clinician,
    Episode,
    Room,
    TimeOff,
)
from shared.errors import DomainError
from shared.events import catalog as events
from shared.messaging.outbox import emit
from shared.sealed import seal
from shared.statuses import ClientStatus


class BookingConflict(RuleViolation):
    def __init__(self, message: str, conflicts: list[dict]):
        super().__init__(message)
        self.conflicts = conflicts

    def problem_extra(self) -> dict:
        return {"conflicts": self.conflicts}


@dataclass
class BookingRequest:
    client_id: str
    clinician_id: str
    type_id: str
    starts_at: datetime
    ends_at: datetime | None = None
    room_id: str | None = None
    modality: str | None = None
    telehealth_url: str | None = None
    front_desk_note: str | None = None
    override_reason: str | None = None  # books outside working hours / in time off, and says why
    series_id: str | None = None
    announce: bool = True  # False: an imported booking; the client is not sent a confirmation (reminders still go)


def _lock(session: Session, model, ident: str | None):
    return None if ident is None else get_or_404(session, model, ident, lock=True)


def find_conflicts(
    session: Session,
    slot: Slot,
    *,
    clinician_id: str,
    client_id: str,
    room_id: str | None,
    exclude: str | Collection[str] | None = None,
) -> list[Appointment]:
    who = [Appointment.clinician_id == clinician_id, Appointment.client_id == client_id]
    if room_id:
        who.append(Appointment.room_id == room_id)
    stmt = select(Appointment).where(
        or_(*who),
        Appointment.status.in_(booking.ACTIVE_STATUSES),
        Appointment.starts_at < slot.ends_at,
        Appointment.ends_at > slot.starts_at,
    )
    if exclude:
        stmt = stmt.where(Appointment.id.not_in([exclude] if isinstance(exclude, str) else list(exclude)))
    return list(session.scalars(stmt))


def _describe(conflicts: list[Appointment], clinician_id: str, client_id: str, room_id: str | None) -> list[dict]:
    out = []
    for a in conflicts:
        if a.clinician_id == clinician_id:
            what = "clinician"
        elif a.client_id == client_id:
            what = "client"
        else:
            what = "room"
        out.append(
            {
                "appointment_id": a.id,
                "with": what,
                "starts_at": a.starts_at.isoformat(),
                "ends_at": a.ends_at.isoformat(),
            }
        )
    return out


def check_slot(
    session: Session,
    clinician: Clinician,
    slot: Slot,
    *,
    client_id: str,
    room_id: str | None,
    override_reason: str | None,
    exclude: str | Collection[str] | None = None,
) -> None:
    if not override_reason:
        time_off = [
            Slot(t.starts_at, t.ends_at)
            for t in session.scalars(
                select(TimeOff).where(
                    TimeOff.clinician_id == clinician.id,
                    TimeOff.starts_at < slot.ends_at,
                    TimeOff.ends_at > slot.starts_at,
                )
            )
        ]
        why = booking.outside_working_hours(slot, clinician.working_hours or {}, clinician.timezone, time_off)
        if why:
            raise RuleViolation(why + " Give an override reason to book anyway.")
    clashes = find_conflicts(
        session, slot, clinician_id=clinician.id, client_id=client_id, room_id=room_id, exclude=exclude
    )
    if clashes:
        details = _describe(clashes, clinician.id, client_id, room_id)
        whom = sorted({d["with"] for d in details})
        raise BookingConflict(f"That time overlaps another appointment of the {' and the '.join(whom)}.", details)


def booked_event(a: Appointment, link_key: str, announce: bool = True) -> dict:
    """``link_key`` seals the video link for the bus (only notifications can open it)."""
    return {
        "announce": announce,
        "appointment_id": a.id,
        "client_id": a.client_id,
        "clinician_id": a.clinician_id,
        "episode_id": a.episode_id,
        "series_id": a.series_id,
        "room_id": a.room_id,
        "appointment_type": a.type_id,
        "modality": a.modality,
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "sequence": a.version - 1,
        "sealed_telehealth_url": seal(link_key, a.telehealth_url) if a.telehealth_url else None,
    }


def book(session: Session, req: BookingRequest, now: datetime, by: str | None = None, *, link_key: str) -> Appointment:
    clinician = _lock(session, Clinician, req.clinician_id)
    client = _lock(session, Client, req.client_id)
    _lock(session, Room, req.room_id)
    appt_type = get_or_404(session, AppointmentType, req.type_id)
    if not clinician.active:
        raise RuleViolation("That clinician is no longer active.")
    if client.status != ClientStatus.ACTIVE:
        raise RuleViolation("This client is discharged: readmit them before booking.")
    ends_at = req.ends_at or req.starts_at + timedelta(minutes=appt_type.minutes)
    slot = Slot(req.starts_at, ends_at)
    check_slot(session, clinician, slot, client_id=client.id, room_id=req.room_id, override_reason=req.override_reason)
    episode = open_episode(session, client.id)
    appt = Appointment(
        client_id=client.id,
        clinician_id=clinician.id,
        room_id=req.room_id,
        type_id=appt_type.id,
        episode_id=episode.id if episode else None,
        series_id=req.series_id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        modality=req.modality or appt_type.modality,
        telehealth_url=req.telehealth_url,
        front_desk_note=req.front_desk_note,
        override_reason=req.override_reason,
        version=1,
    )
    session.add(appt)
    session.flush()
    session.add(
        AppointmentChange(
            appointment_id=appt.id,
            action="booked",
            at=now,
            by=by,
            detail={"override_reason": req.override_reason} if req.override_reason else None,
        )
    )
    emit(session, events.APPOINTMENT_BOOKED, booked_event(appt, link_key, req.announce), subject=client.id)
    return appt


def load_for_change(session: Session, appointment_id: str, expected_version: int | None) -> Appointment:
    """The appointment, locked for the change, or StaleVersion when If-Match named an older version."""
    appt = get_or_404(session, Appointment, appointment_id, lock=True)
    if expected_version is not None and appt.version != expected_version:
        raise StaleVersion(appt.version)
    return appt


class StaleVersion(DomainError):
    status, title = 412, "Precondition Failed"

    def __init__(self, current: int):
        super().__init__(f"The appointment changed meanwhile (now version {current}); reload and try again.")
        self.current = current

    def problem_extra(self) -> dict:
        return {"current_version": self.current}


def _record(session: Session, appt: Appointment, action: str, now: datetime, by: str | None, **detail) -> None:
    appt.version += 1
    appt.updated_at = now
    session.add(AppointmentChange(appointment_id=appt.id, action=action, at=now, by=by, detail=detail or None))


def reschedule(
    session: Session,
    appointment_id: str,
    starts_at: datetime,
    ends_at: datetime | None,
    now: datetime,
    *,
    link_key: str,
    by: str | None = None,
    room_id: str | None = None,
    override_reason: str | None = None,
    expected_version: int | None = None,
    checked: bool = False,
) -> Appointment:
    """Move a booked appointment (same identity, history kept). ``checked``: the caller (a series edit) has
    already checked the new slot against everything but the series' own moving occurrences."""
    appt = load_for_change(session, appointment_id, expected_version)
    booking.check_transition(appt.status, "reschedule", Slot(appt.starts_at, appt.ends_at), now)
    clinician = _lock(session, Clinician, appt.clinician_id)
    _lock(session, Client, appt.client_id)
    new_room = room_id if room_id is not None else appt.room_id
    _lock(session, Room, new_room)
    duration = appt.ends_at - appt.starts_at
    slot = Slot(starts_at, ends_at or starts_at + duration)
    if not checked:
        check_slot(
            session,
            clinician,
            slot,
            client_id=appt.client_id,
            room_id=new_room,
            override_reason=override_reason,
            exclude=appt.id,
        )
    previous = Slot(appt.starts_at, appt.ends_at)
    session.add(
        AppointmentChange(
            appointment_id=appt.id,
            action="rescheduled",
            at=now,
            by=by,
            previous_starts_at=previous.starts_at,
            previous_ends_at=previous.ends_at,
        )
    )
    appt.starts_at, appt.ends_at, appt.room_id = slot.starts_at, slot.ends_at, new_room
    appt.confirmation = "unconfirmed"
    appt.version += 1
    appt.updated_at = now
    if override_reason:
        appt.override_reason = override_reason
    session.flush()
    emit(
        session,
        events.APPOINTMENT_RESCHEDULED,
        {
            **booked_event(appt, link_key),
            "previous_starts_at": previous.starts_at,
            "previous_ends_at": previous.ends_at,
        },
        subject=appt.client_id,
    )
    return appt


def change_video_link(
    session: Session,
    appointment_id: str,
    telehealth_url: str | None,
    now: datetime,
    *,
    link_key: str,
    by: str | None = None,
    expected_version: int | None = None,
) -> Appointment:
    """Give a booked appointment a new video link (or none): the client is sent the change and an updated
    calendar entry. A link makes the appointment a video one."""
    appt = load_for_change(session, appointment_id, expected_version)
    if appt.status != booking.BOOKED or appt.ends_at <= now:
        raise RuleViolation("Only a booked appointment that has not ended can get a new video link.")
    if telehealth_url == appt.telehealth_url:
        return appt
    appt.telehealth_url = telehealth_url
    if telehealth_url:
        appt.modality = "telehealth"
    _record(session, appt, "video_link_changed", now, by)
    session.flush()
    emit(session, events.APPOINTMENT_DETAILS_CHANGED, booked_event(appt, link_key), subject=appt.client_id)
    return appt


def cancel(
    session: Session,
    appointment_id: str,
    now: datetime,
    *,
    cancelled_by: str,
    reason: str | None,
    late_window: timedelta,
    by: str | None = None,
    expected_version: int | None = None,
) -> Appointment:
    appt = load_for_change(session, appointment_id, expected_version)
    booking.check_transition(appt.status, "cancel", Slot(appt.starts_at, appt.ends_at), now)
    appt.status = booking.CANCELLED
    appt.cancelled_by = cancelled_by
    appt.cancel_reason = reason
    appt.late_cancel = booking.is_late_cancel(now, appt.starts_at, late_window)
    _record(session, appt, "cancelled", now, by, cancelled_by=cancelled_by, late_cancel=appt.late_cancel)
    session.flush()
    emit(
        session,
        events.APPOINTMENT_CANCELLED,
        {
            "appointment_id": appt.id,
            "client_id": appt.client_id,
            "clinician_id": appt.clinician_id,
            "starts_at": appt.starts_at,
            "cancelled_by": cancelled_by,
            "late_cancel": appt.late_cancel,
            "sequence": appt.version - 1,
        },
        subject=appt.client_id,
    )
    return appt


def check_in(
    session: Session, appointment_id: str, now: datetime, *, by: str | None = None, expected_version: int | None = None
) -> Appointment:
    appt = load_for_change(session, appointment_id, expected_version)
    appt.status = booking.check_transition(appt.status, "check_in", Slot(appt.starts_at, appt.ends_at), now)
    appt.checked_in_at = now
    _record(session, appt, "checked_in", now, by)
    session.flush()
    emit(
        session,
        events.APPOINTMENT_CHECKED_IN,
        {
            "appointment_id": appt.id,
            "client_id": appt.client_id,
            "clinician_id": appt.clinician_id,
            "checked_in_at": now,
        },
        subject=appt.client_id,
    )
    return appt


def mark_no_show(
    session: Session, appointment_id: str, now: datetime, *, by: str | None = None, expected_version: int | None = None
) -> Appointment:
    appt = load_for_change(session, appointment_id, expected_version)
    appt.status = booking.check_transition(appt.status, "no_show", Slot(appt.starts_at, appt.ends_at), now)
    _record(session, appt, "no_show", now, by)
    session.flush()
    emit(
        session,
        events.APPOINTMENT_NO_SHOW,
        {
            "appointment_id": appt.id,
            "client_id": appt.client_id,
            "clinician_id": appt.clinician_id,
            "starts_at": appt.starts_at,
        },
        subject=appt.client_id,
    )
    return appt


def complete(
    session: Session, appointment_id: str, now: datetime, *, by: str | None = None, expected_version: int | None = None
) -> Appointment:
    appt = load_for_change(session, appointment_id, expected_version)
    appt.status = booking.check_transition(appt.status, "complete", Slot(appt.starts_at, appt.ends_at), now)
    appt.completed_at = now
    appt_type = session.get(AppointmentType, appt.type_id)
    episode = get_or_404(session, Episode, appt.episode_id, lock=True) if appt.episode_id else None
    if episode is not None and appt_type.counts_as_session:
        episode.sessions_completed += 1
        appt.session_number = episode.sessions_completed
    else:
        appt.session_number = 1 if episode is None else max(episode.sessions_completed, 1)
    _record(session, appt, "completed", now, by, session_number=appt.session_number)
    session.flush()
    emit(
        session,
        events.SESSION_COMPLETED,
        {
            "appointment_id": appt.id,
            "client_id": appt.client_id,
            "clinician_id": appt.clinician_id,
            "episode_id": appt.episode_id,
            "appointment_type": appt.type_id,
            "session_number": appt.session_number,
            "completed_at": now,
        },
        subject=appt.client_id,
    )
    return appt


def set_confirmation(session: Session, appointment_id: str, confirmation: str, now: datetime) -> Appointment:
    appt = load_for_change(session, appointment_id, None)
    if appt.status != booking.BOOKED:
        raise booking.IllegalTransition(f"This appointment is {appt.status.replace('_', '-')}.")
    if appt.confirmation != confirmation:
        appt.confirmation = confirmation
        _record(session, appt, f"client_{confirmation}", now, "client")
        session.flush()
        emit(
            session,
            events.APPOINTMENT_CONFIRMATION_CHANGED,
            {
                "appointment_id": appt.id,
                "client_id": appt.client_id,
                "clinician_id": appt.clinician_id,
                "confirmation": confirmation,
            },
            subject=appt.client_id,
        )
    return appt
