"""One function per consumed event type, run inside the consumer's transaction (with its inbox row)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.notifications import deliveries, scheduled
from services.notifications.models import Contact, QuestionnaireRecord
from services.notifications.settings import NotifySettings
from shared import logs
from shared.db import utcnow
from shared.events.envelope import Event

log = logs.get("notifications.handlers")


class RecipientUnknown(Exception):
    """Not yet in the directory (its event may still be on its way from another topic): retried."""


def upsert_client(session: Session, event: Event) -> None:
    d = event.data
    existing = session.get(Contact, d["client_id"])
    session.merge(
        Contact(
            id=d["client_id"],
            kind="client",
            email=d["email"],
            display_name=d["preferred_name"],
            timezone=d["timezone"],
            channel=d["preferred_channel"],
            consent_email=d["consent_email"],
            opted_out=existing.opted_out if existing else False,
            active=d["status"] == "active",
        )
    )


def deactivate_client(session: Session, event: Event) -> None:
    contact = session.get(Contact, event.data["client_id"])
    if contact is not None:
        contact.active = False


def upsert_clinician(session: Session, event: Event) -> None:
    d = event.data
    session.merge(
        Contact(
            id=d["clinician_id"],
            kind="clinician",
            email=d["email"],
            display_name=d["name"],
            timezone=d["timezone"],
            consent_email=True,
            active=d["active"],
        )
    )


def make_handlers(settings: NotifySettings, clock=utcnow) -> dict:
    """``clock`` tells the handlers what time it is (tests pass their own)."""

    def invite_to_questionnaire(session: Session, event: Event) -> None:
        d = event.data
        session.merge(QuestionnaireRecord(id=d["assignment_id"], client_id=d["client_id"], status="open"))
        contact = session.get(Contact, d["client_id"])
        if contact is None:
            raise RecipientUnknown("client not in the directory yet")
        if not (contact.consent_email and contact.email and contact.active):
            log.info("invitation.skipped", event_id=event.id, reason="no consent or no address")
            return
        now = clock()
        expires = d["expires_at"].astimezone(ZoneInfo(contact.timezone))
        deliveries.enqueue(
            session,
            key=f"{event.id}:questionnaire_invitation:{contact.id}",
            template="questionnaire_invitation",
            recipient=contact,
            recipient_kind="client",
            source_event_id=event.id,
            subject_id=d["client_id"],
            due_at=scheduled.client_due(settings, contact, now),
            context={
                "preferred_name": contact.display_name,
                "questionnaire_url": d["questionnaire_url"],
                "expires_local": f"{expires:%A %d %B at %H:%M} ({contact.timezone})",
            },
        )
        scheduled.schedule_questionnaire_reminder(session, settings, contact, event, now)

    def close_questionnaire(session: Session, event: Event) -> None:
        d = event.data
        status = "completed" if event.name == "questionnaire.completed" else "expired"
        session.merge(QuestionnaireRecord(id=d["assignment_id"], client_id=d["client_id"], status=status))
        scheduled.cancel_pending(session, f"q-reminder:{d['assignment_id']}")

    def notify_alert(session: Session, event: Event) -> None:
        d = event.data
        clinician = session.get(Contact, d["clinician_id"])
        if clinician is None or not clinician.email:
            raise RecipientUnknown("clinician not in the directory yet")
        context = {"severity": d["severity"], "alert_url": f"{settings.dashboard_url}/alerts/{d['alert_id']}"}
        deliveries.enqueue(  # alerts ignore quiet hours: they go at once
            session,
            key=f"{event.id}:alert_notice:{clinician.id}",
            template="alert_notice",
            recipient=clinician,
            recipient_kind="clinician",
            source_event_id=event.id,
            subject_id=d["client_id"],
            context=context,
            due_at=clock(),
        )
        if d["severity"] == "urgent" and settings.oncall_address:
            oncall = Contact(id="on-call", kind="practice", email=settings.oncall_address, display_name="On call")
            deliveries.enqueue(
                session,
                key=f"{event.id}:alert_notice:on-call",
                template="alert_notice",
                recipient=oncall,
                recipient_kind="practice",
                source_event_id=event.id,
                subject_id=d["client_id"],
                context=context,
                due_at=clock(),
            )

    def appointment_changed(session: Session, event: Event) -> None:
        if session.get(Contact, event.data["client_id"]) is None:
            raise RecipientUnknown("client not in the directory yet")
        scheduled.on_appointment_event(session, event, settings, clock())

    def appointment_closed(session: Session, event: Event) -> None:
        """Checked in or a no-show: no reminder may go out for it any more."""
        status = "checked_in" if event.name == "appointment.checked_in" else "no_show"
        record = session.get(scheduled.AppointmentRecord, event.data["appointment_id"])
        if record is not None:
            record.status = status
        scheduled.cancel_pending(session, f"appt-reminder:{event.data['appointment_id']}")

    return {
        "attune.scheduling.client.registered": upsert_client,
        "attune.scheduling.client.updated": upsert_client,
        "attune.scheduling.client.discharged": deactivate_client,
        "attune.scheduling.clinician.registered": upsert_clinician,
        "attune.scheduling.clinician.updated": upsert_clinician,
        "attune.scheduling.appointment.booked": appointment_changed,
        "attune.scheduling.appointment.rescheduled": appointment_changed,
        "attune.scheduling.appointment.cancelled": appointment_changed,
        "attune.scheduling.appointment.checked_in": appointment_closed,
        "attune.scheduling.appointment.no_show": appointment_closed,
        "attune.feedback.questionnaire.issued": invite_to_questionnaire,
        "attune.feedback.questionnaire.completed": close_questionnaire,
        "attune.feedback.questionnaire.expired": close_questionnaire,
        "attune.feedback.alert.raised": notify_alert,
        "attune.feedback.alert.escalated": notify_alert,
    }
