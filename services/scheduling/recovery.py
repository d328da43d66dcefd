"""After a restore from backup: scheduling's own events since the backup, written back where its restored
database can take them. What happened to appointments it holds (booked, moved, checked in, completed, missed,
cancelled) and changes to clients and clinicians it holds come back without emitting anything again (each
event was emitted already). What it cannot rebuild is listed for the front desk: a client registered after
the backup (the bus carries no legal name or date of birth), a series, a note."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.scheduling.models import Appointment, AppointmentType, Client, Clinician, Episode
from shared import sealed
from shared.events.envelope import Event
from shared.statuses import AppointmentStatus

CLIENT_FIELDS = ("preferred_name", "email", "phone", "preferred_channel", "timezone", "consent_email",
                 "consent_email_at", "consent_sms", "consent_sms_at", "status", "clinician_id")  # fmt: skip
CLINICIAN_FIELDS = ("name", "email", "timezone", "active", "accepting_new_clients", "supervisor_id")
STATUS_OF = {
    "appointment.checked_in": AppointmentStatus.CHECKED_IN,
    "appointment.no_show": AppointmentStatus.NO_SHOW,
    "appointment.cancelled": AppointmentStatus.CANCELLED,
    "session.completed": AppointmentStatus.COMPLETED,
}


def _newer(held_version: int | None, version: int | None) -> bool:
    return version is not None and (held_version is None or version > held_version)


def _booked(session: Session, event: Event, settings) -> str:
    d = event.data
    appt = session.get(Appointment, d.appointment_id)
    if appt is not None and appt.version >= d.sequence + 1:
        return "already held"
    if appt is None:
        known = (session.get(Client, d.client_id), session.get(Clinician, d.clinician_id),
                 session.get(AppointmentType, d.appointment_type))  # fmt: skip
        if not all(known):
            return "not restorable"
        appt = Appointment(id=d.appointment_id, client_id=d.client_id, clinician_id=d.clinician_id,
                           type_id=d.appointment_type)  # fmt: skip
        episode = session.get(Episode, d.episode_id) if d.episode_id else None
        appt.episode_id = episode.id if episode else None
        session.add(appt)
    appt.starts_at, appt.ends_at, appt.modality, appt.version = d.starts_at, d.ends_at, d.modality, d.sequence + 1
    if d.sealed_telehealth_url:
        appt.telehealth_url = sealed.unseal(settings.link_key, d.sealed_telehealth_url)
    return "restored"


def recover(session: Session, event: Event, settings) -> str:
    """Apply one of scheduling's own events; returns ``restored``, ``already held`` or ``not restorable``."""
    d, name = event.data, event.name
    if name in ("appointment.booked", "appointment.rescheduled", "appointment.details_changed"):
        return _booked(session, event, settings)
    if name in STATUS_OF:
        appt = session.get(Appointment, d.appointment_id)
        if appt is None:
            return "not restorable"
        if appt.status == STATUS_OF[name]:
            return "already held"
        appt.status = STATUS_OF[name]
        if name == "session.completed":
            appt.completed_at, appt.session_number = d.completed_at, d.session_number
            episode = session.get(Episode, appt.episode_id) if appt.episode_id else None
            if episode is not None:
                episode.sessions_completed = max(episode.sessions_completed, d.session_number)
        elif name == "appointment.checked_in":
            appt.checked_in_at = d.checked_in_at
        elif name == "appointment.cancelled":
            appt.cancelled_by, appt.late_cancel = d.cancelled_by, d.late_cancel
        return "restored"
    if name in ("client.registered", "client.updated"):
        return _entity(session.get(Client, d.client_id), d, CLIENT_FIELDS)
    if name in ("clinician.registered", "clinician.updated"):
        return _entity(session.get(Clinician, d.clinician_id), d, CLINICIAN_FIELDS)
    return "not restorable"


def _entity(held, d, fields: tuple[str, ...]) -> str:
    """A client or clinician the restored database holds, brought up to the event's newer version."""
    if held is None:
        return "not restorable"
    if not _newer(held.version, d.version):
        return "already held"
    for field in fields:
        setattr(held, field, getattr(d, field))
    held.version = d.version
    return "restored"
