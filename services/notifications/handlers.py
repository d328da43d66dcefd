"""One top-level function per consumed event, run inside the consumer's transaction (with its inbox row).
Dependencies (``settings``, ``clock``) are bound by name in ``bootstrap.py``; tests pass their own."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.notifications import deliveries, kinds, rules, scheduled
from services.notifications.models import Contact, QuestionnaireRecord
from services.notifications.settings import NotificationsSettings
from shared import logs, sealed
from shared.errors import MissingDependency
from shared.events.envelope import Event
from shared.projections import is_stale
from shared.statuses import AppointmentStatus, ClientStatus, QuestionnaireStatus, Severity

log = logs.get("notifications.handlers")


# -- the directory ---------------------------------------------------------------------------------------------


def _upsert_contact(session: Session, contact_id: str, **details) -> None:
    existing = session.get(Contact, contact_id)  # an unsubscribe is the recipient's, not the directory's
    if existing is not None and is_stale(existing.version, details["version"]):
        return  # an older state of this person (a replay, a late copy): never let it win
    details["version"] = details["version"] or (existing.version if existing else None)
    kept = (
        {
            "opted_out": existing.opted_out,
            "opted_out_at": existing.opted_out_at,
            "sms_stopped_at": existing.sms_stopped_at,
        }
        if existing
        else {}
    )
    session.merge(Contact(id=contact_id, **{"opted_out": False, **kept}, **details))


def _texts_allowed(session: Session, d) -> bool:
    """Consent to texts as the event says, unless the client replied STOP after that consent was recorded."""
    existing = session.get(Contact, d.client_id)
    stopped = existing.sms_stopped_at if existing else None
    return d.consent_sms and not (stopped and (d.consent_sms_at is None or d.consent_sms_at <= stopped))


def upsert_client(session: Session, event: Event) -> None:
    d = event.data
    texts = _texts_allowed(session, d)
    _upsert_contact(
        session,
        d.client_id,
        kind="client",
        email=d.email,
        display_name=d.preferred_name,
        timezone=d.timezone,
        channel=d.preferred_channel,
        consent_email=d.consent_email,
        phone=d.phone,
        consent_sms=texts,
        active=d.status == ClientStatus.ACTIVE,
        version=d.version,
    )


def deactivate_client(session: Session, event: Event) -> None:
    contact = session.get(Contact, event.data.client_id)
    if contact is not None and not is_stale(contact.version, event.data.version):
        contact.active = False
        contact.version = event.data.version or contact.version


def upsert_clinician(session: Session, event: Event) -> None:
    d = event.data
    _upsert_contact(
        session,
        d.clinician_id,
        kind="clinician",
        email=d.email,
        display_name=d.name,
        timezone=d.timezone,
        consent_email=True,
        active=d.active,
        supervisor_id=d.supervisor_id,
        version=d.version,
    )


# -- questionnaires ------------------------------------------------------------------------------------------


def invite_to_questionnaire(session: Session, event: Event, settings: NotificationsSettings, clock) -> None:
    d = event.data
    session.merge(QuestionnaireRecord(id=d.assignment_id, client_id=d.client_id, status=QuestionnaireStatus.OPEN))
    if d.delivery == "kiosk":
        return  # filled in on a practice tablet in the room: nothing to send
    contact = session.get(Contact, d.client_id)
    if contact is None:  # its event may still be on its way from scheduling's topic: park until it comes
        raise MissingDependency(f"contact:{d.client_id}")
    way = deliveries.route(contact, settings, needs_email_consent=True)
    if not way.reached:
        log.info("invitation.skipped", event_id=event.id, reason=way.reason)
        if way.reason.startswith(rules.NOT_REACHED):  # the client chose texts we cannot send: the desk must know
            deliveries.not_reached(session, kinds.QUESTIONNAIRE_INVITATION.name, contact, event, way.reason)
        else:
            deliveries.withhold(session, kinds.QUESTIONNAIRE_INVITATION.name, contact, event, way.reason)
        return
    now = clock()
    expires = d.expires_at.astimezone(ZoneInfo(contact.timezone))
    invitation = kinds.QUESTIONNAIRE_INVITATION.name
    deliveries.enqueue(
        session,
        invitation,
        contact,
        event,
        due_at=scheduled.client_due(settings, contact, now),
        context={
            "preferred_name": contact.display_name,
            "questionnaire_url": scheduled.questionnaire_link(d, settings),
            "assignment_id": d.assignment_id,
            "expires_at": d.expires_at.isoformat(),
            "expires_local": f"{expires:%A %d %B at %H:%M} ({contact.timezone})",
            "expires_short": f"{expires:%a %d %b %H:%M}",
        },
        channel=way.channel,
    )
    scheduled.schedule_questionnaire_reminder(session, settings, contact, event, now, way.channel)


def send_progress_report(session: Session, event: Event, settings: NotificationsSettings, clock) -> None:
    """The therapist shared the client's progress report: send its single-use link by the client's channel."""
    d = event.data
    contact = session.get(Contact, d.client_id)
    if contact is None:
        raise MissingDependency(f"contact:{d.client_id}")
    report = kinds.PROGRESS_REPORT.name
    way = deliveries.route(contact, settings, needs_email_consent=True)
    if not way.reached:
        if way.reason.startswith(rules.NOT_REACHED):
            deliveries.not_reached(session, report, contact, event, way.reason)
        else:
            deliveries.withhold(session, report, contact, event, way.reason)
        return
    expires = d.expires_at.astimezone(ZoneInfo(contact.timezone))
    deliveries.enqueue(
        session,
        report,
        contact,
        event,
        due_at=scheduled.client_due(settings, contact, clock()),
        context={
            "preferred_name": contact.display_name,
            "report_url": sealed.unseal(settings.link_key, d.sealed_url),
            "expires_at": d.expires_at.isoformat(),
            "expires_local": f"{expires:%A %d %B at %H:%M} ({contact.timezone})",
            "expires_short": f"{expires:%a %d %b %H:%M}",
        },
        channel=way.channel,
    )


def _close_questionnaire(session: Session, event: Event, status: QuestionnaireStatus) -> None:
    d = event.data
    session.merge(QuestionnaireRecord(id=d.assignment_id, client_id=d.client_id, status=status))
    scheduled.cancel_pending(session, f"q-reminder:{d.assignment_id}", f"questionnaire {status}")


def questionnaire_completed(session: Session, event: Event) -> None:
    _close_questionnaire(session, event, QuestionnaireStatus.COMPLETED)


def questionnaire_expired(session: Session, event: Event) -> None:
    _close_questionnaire(session, event, QuestionnaireStatus.EXPIRED)


# -- alerts --------------------------------------------------------------------------------------------------


def notify_alert(session: Session, event: Event, settings: NotificationsSettings, clock) -> None:
    """Tell the clinician at once (alerts ignore quiet hours); an urgent alert, or one nobody acknowledged in
    time, also goes to the clinician's supervisor and the on-call address."""
    d = event.data
    clinician = session.get(Contact, d.clinician_id)
    if clinician is None or not clinician.email:
        raise MissingDependency(f"contact:{d.clinician_id}")
    unacknowledged = getattr(d, "reason", None) == "unacknowledged"
    backups = (
        deliveries.backups_for(session, clinician, settings) if d.severity == Severity.URGENT or unacknowledged else []
    )
    context = {
        "severity": d.severity,
        "alert_id": d.alert_id,
        "alert_url": f"{settings.dashboard_url}/alerts/{d.alert_id}",
        "unacknowledged": unacknowledged,
        "raised_at": event.time.isoformat(),  # for the raised-to-sent latency metric
    }
    notice = kinds.ALERT_NOTICE.name
    deliveries.enqueue(session, notice, clinician, event, context=context, due_at=clock())
    for backup in backups:
        deliveries.enqueue(session, notice, backup, event, context={**context, "for_supervisor": True}, due_at=clock())


# -- appointments ----------------------------------------------------------------------------------------------


def _appointment_changed(session: Session, event: Event, change: str, settings, clock) -> None:
    if session.get(Contact, event.data.client_id) is None:
        raise MissingDependency(f"contact:{event.data.client_id}")
    scheduled.on_appointment_event(session, event, change, settings, clock())


def appointment_booked(session: Session, event: Event, settings: NotificationsSettings, clock) -> None:
    _appointment_changed(session, event, "booked", settings, clock)


def appointment_rescheduled(session: Session, event: Event, settings: NotificationsSettings, clock) -> None:
    _appointment_changed(session, event, "rescheduled", settings, clock)


def appointment_details_changed(session: Session, event: Event, settings: NotificationsSettings, clock) -> None:
    _appointment_changed(session, event, "details_changed", settings, clock)


def appointment_cancelled(session: Session, event: Event, settings: NotificationsSettings, clock) -> None:
    _appointment_changed(session, event, "cancelled", settings, clock)


def _appointment_closed(session: Session, event: Event, status: AppointmentStatus) -> None:
    """Checked in or a no-show: no reminder may go out for it any more."""
    record = session.get(scheduled.AppointmentRecord, event.data.appointment_id)
    if record is not None:
        record.status = status
    scheduled.cancel_pending(
        session, f"appt-reminder:{event.data.appointment_id}", f"appointment {status.replace('_', '-')}"
    )


def appointment_checked_in(session: Session, event: Event) -> None:
    _appointment_closed(session, event, AppointmentStatus.CHECKED_IN)


def appointment_no_show(session: Session, event: Event) -> None:
    _appointment_closed(session, event, AppointmentStatus.NO_SHOW)


# -- consent ---------------------------------------------------------------------------------------------------


def reminders_resumed(session: Session, event: Event, settings: NotificationsSettings, clock) -> None:
    """The front desk recorded that the client wants reminders again: lift the unsubscribe and schedule the
    reminders of appointments still to come (under this event's key: the cancelled ones stay cancelled)."""
    contact = session.get(Contact, event.data.client_id)
    if contact is None:
        raise MissingDependency(f"contact:{event.data.client_id}")
    if not contact.opted_out:
        return
    if contact.opted_out_at is not None and contact.opted_out_at > event.data.resumed_at:
        return  # the client unsubscribed again after the desk's decision: the later wish stands
    contact.opted_out = False
    way = deliveries.route(contact, settings, needs_email_consent=False)
    if not way.reached:
        return  # nothing can reach them now; the desk already sees why on the appointment messages
    now = clock()
    for appt in scheduled.upcoming_appointments(session, contact.id, now):
        scheduled.schedule_reminders(
            session, settings, contact, appt, event, now, generation=event.id, channel=way.channel
        )
