"""Everything scheduling holds about one client, to hand back: as tables (CSV rows) and as FHIR R4 resources
(Patient, the clinicians as Practitioner, each Appointment). Read-only; the caller audits the export."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scheduling.models import (
    Appointment,
    AppointmentChange,
    AppointmentType,
    Client,
    ClientMessage,
    Clinician,
    ConsentChange,
    ImportedRecord,
)
from shared.statuses import AppointmentStatus

FHIR_STATUS = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CHECKED_IN: "arrived",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
}


def _iso(value):
    return value.isoformat() if value is not None else None


def client_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Client.id).order_by(Client.created_at, Client.id)))


def tables(session: Session, client_id: str) -> dict[str, list[dict]]:
    c = session.get(Client, client_id)
    if c is None:
        return {}
    appts = session.scalars(
        select(Appointment).where(Appointment.client_id == client_id).order_by(Appointment.starts_at)
    )
    appts = list(appts)
    external = session.scalars(
        select(ImportedRecord).where(ImportedRecord.kind == "client", ImportedRecord.entity_id == client_id)
    ).all()
    return {
        "client": [{
            "client_id": c.id, "legal_name": c.legal_name, "preferred_name": c.preferred_name,
            "date_of_birth": _iso(c.date_of_birth), "email": c.email, "phone": c.phone,
            "preferred_channel": c.preferred_channel, "timezone": c.timezone, "consent_email": c.consent_email,
            "consent_email_at": _iso(c.consent_email_at), "consent_sms": c.consent_sms,
            "consent_sms_at": _iso(c.consent_sms_at), "reminders_opted_out": c.reminders_opted_out,
            "clinician_id": c.clinician_id, "status": c.status, "created_at": _iso(c.created_at),
            "external_ids": ";".join(f"{r.source}:{r.external_id}" for r in external),
        }],
        "appointments": [{
            "appointment_id": a.id, "client_id": a.client_id, "clinician_id": a.clinician_id, "type": a.type_id,
            "starts_at": _iso(a.starts_at), "ends_at": _iso(a.ends_at), "modality": a.modality, "status": a.status,
            "series_id": a.series_id, "room_id": a.room_id, "session_number": a.session_number,
            "cancelled_by": a.cancelled_by, "late_cancel": a.late_cancel, "front_desk_note": a.front_desk_note,
            "completed_at": _iso(a.completed_at),
        } for a in appts],
        "appointment_history": [{
            "appointment_id": h.appointment_id, "action": h.action, "at": _iso(h.at), "by": h.by,
            "previous_starts_at": _iso(h.previous_starts_at),
        } for h in session.scalars(
            select(AppointmentChange).where(AppointmentChange.appointment_id.in_([a.id for a in appts]))
            .order_by(AppointmentChange.at, AppointmentChange.id)
        )],
        "consent": [{
            "channel": r.channel, "given": r.given, "at": _iso(r.at), "by": r.by, "how": r.how, "reason": r.reason,
        } for r in session.scalars(
            select(ConsentChange).where(ConsentChange.client_id == client_id).order_by(ConsentChange.at)
        )],
        "message_log": [{
            "delivery_id": m.id, "template": m.template, "outcome": m.outcome, "at": _iso(m.at), "reason": m.reason,
        } for m in session.scalars(
            select(ClientMessage).where(ClientMessage.client_id == client_id).order_by(ClientMessage.at)
        )],
    }  # fmt: skip


def fhir(session: Session, client_id: str) -> list[dict]:
    """Patient, Practitioner (each clinician the client saw or is assigned to) and Appointment resources."""
    c = session.get(Client, client_id)
    if c is None:
        return []
    names = [{"use": "official", "text": c.legal_name}]
    if c.preferred_name and c.preferred_name != c.legal_name:
        names.append({"use": "usual", "text": c.preferred_name})
    telecom = [{"system": "email", "value": c.email}] if c.email else []
    telecom += [{"system": "phone", "use": "mobile", "value": c.phone}] if c.phone else []
    patient = {"resourceType": "Patient", "id": c.id, "active": c.status == "active", "name": names}
    if telecom:
        patient["telecom"] = telecom
    if c.date_of_birth:
        patient["birthDate"] = c.date_of_birth.isoformat()
    external = session.scalars(
        select(ImportedRecord).where(ImportedRecord.kind == "client", ImportedRecord.entity_id == client_id)
    ).all()
    if external:
        patient["identifier"] = [{"system": f"urn:attune:import:{r.source}", "value": r.external_id} for r in external]
    appts = list(session.scalars(select(Appointment).where(Appointment.client_id == client_id)))
    clinician_ids = sorted({a.clinician_id for a in appts} | ({c.clinician_id} if c.clinician_id else set()))
    resources = [patient]
    for clinician in session.scalars(select(Clinician).where(Clinician.id.in_(clinician_ids))):
        resources.append({
            "resourceType": "Practitioner", "id": clinician.id, "active": clinician.active,
            "name": [{"text": clinician.name}], "telecom": [{"system": "email", "value": clinician.email}],
        })  # fmt: skip
    if c.clinician_id:
        patient["generalPractitioner"] = [{"reference": f"Practitioner/{c.clinician_id}"}]
    types = {t.id: t.name for t in session.scalars(select(AppointmentType))}
    for a in sorted(appts, key=lambda a: a.starts_at):
        resource = {
            "resourceType": "Appointment",
            "id": a.id,
            "status": FHIR_STATUS.get(a.status, "booked"),
            "appointmentType": {"text": types.get(a.type_id, a.type_id)},
            "start": a.starts_at.isoformat(),
            "end": a.ends_at.isoformat(),
            "participant": [
                {"actor": {"reference": f"Patient/{c.id}"}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/{a.clinician_id}"}, "status": "accepted"},
            ],
        }
        if a.modality == "telehealth":
            resource["serviceType"] = [{"text": "video session"}]
        if a.status == AppointmentStatus.CANCELLED and a.cancelled_by:
            resource["cancelationReason"] = {"text": f"cancelled by the {a.cancelled_by}"}
        resources.append(resource)
    return resources
