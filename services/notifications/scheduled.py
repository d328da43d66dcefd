"""Scheduled client messages: appointment confirmations, changes and cancellations after a grace period,
appointment reminders, and questionnaire reminders. They live in the delivery ledger (durable: they survive
restarts), grouped by ``schedule_key`` so later events can move or cancel them."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications import deliveries, kinds, rules
from services.notifications.models import AppointmentRecord, Contact, Delivery
from services.notifications.quiet_hours import next_allowed
from services.notifications.settings import NotificationsSettings
from shared import links, sealed
from shared.events.envelope import Event
from shared.statuses import AppointmentStatus, DeliveryStatus


def questionnaire_link(d, settings: NotificationsSettings) -> str:
    """The working link in a ``questionnaire.issued`` event: sealed on the bus (older events carry it in clear)."""
    return sealed.unseal(settings.link_key, d.sealed_url) if d.sealed_url else d.questionnaire_url


def client_due(settings: NotificationsSettings, contact: Contact, due: datetime) -> datetime:
    return next_allowed(
        due, contact.timezone, time.fromisoformat(settings.quiet_start), time.fromisoformat(settings.quiet_end)
    )


def cancel_pending(session: Session, schedule_key: str, reason: str = "superseded") -> int:
    """Cancel the pending messages scheduled under ``schedule_key``, each with its own outcome event."""
    pending = session.scalars(
        select(Delivery)
        .where(Delivery.schedule_key == schedule_key, Delivery.status == DeliveryStatus.PENDING)
        .with_for_update()
    ).all()
    for delivery in pending:
        deliveries.cancel(session, delivery, reason)
    return len(pending)


def _local(contact: Contact, when: datetime) -> str:
    return f"{when.astimezone(ZoneInfo(contact.timezone)):%A %d %B at %H:%M} ({contact.timezone})"


def appointment_context(
    settings: NotificationsSettings, contact: Contact, appt: AppointmentRecord, method: str
) -> dict:
    return {
        "preferred_name": contact.display_name,
        "when_local": _local(contact, appt.starts_at),
        "when_short": f"{appt.starts_at.astimezone(ZoneInfo(contact.timezone)):%a %d %b %H:%M}",  # for texts
        "telehealth": appt.modality == "telehealth",
        "location": settings.practice_location,
        "appointment_id": appt.id,
        "starts_at": appt.starts_at.isoformat(),
        "ends_at": appt.ends_at.isoformat(),
        "sequence": appt.sequence,
        "ics_method": method,
        "telehealth_url_sealed": appt.sealed_telehealth_url if appt.modality == "telehealth" else None,
    }


def project_appointment(session: Session, d, status: str) -> AppointmentRecord | None:
    """Keep the appointment projection current; ``d`` is any appointment event's data (a cancellation carries
    no end time or type, so only the fields an event has are copied)."""
    appt = session.get(AppointmentRecord, d.appointment_id)
    if appt is None and getattr(d, "ends_at", None) is None:
        return None  # a cancellation of an appointment we never saw booked: nothing to tell anyone
    appt = appt or AppointmentRecord(id=d.appointment_id)
    appt.client_id, appt.clinician_id, appt.status = d.client_id, d.clinician_id, status
    for field in ("appointment_type", "modality", "starts_at", "ends_at", "sequence"):
        value = getattr(d, field, None)
        if value is not None:
            setattr(appt, field, value)
    if getattr(d, "ends_at", None) is not None:  # a booked-shaped event says the link as it is now, or none
        appt.sealed_telehealth_url = d.sealed_telehealth_url
    session.merge(appt)
    session.flush()
    return session.get(AppointmentRecord, d.appointment_id)


def on_appointment_event(
    session: Session, event: Event, change: str, settings: NotificationsSettings, now: datetime
) -> None:
    """``change`` is ``booked``, ``rescheduled``, ``details_changed`` (a new video link: told like a move) or
    ``cancelled``."""
    d = event.data
    cancelled = change == "cancelled"
    # reminders made again for the same time need keys of their own (the earlier ones were cancelled)
    generation = f"s{d.sequence}" if change == "details_changed" else ""
    change = "rescheduled" if change == "details_changed" else change
    appt = project_appointment(session, d, AppointmentStatus.CANCELLED if cancelled else AppointmentStatus.BOOKED)
    if appt is None:
        return
    contact = session.get(Contact, d.client_id)
    message_key = f"appt-msg:{appt.id}"
    pending = session.scalar(
        select(Delivery).where(Delivery.schedule_key == message_key, Delivery.status == DeliveryStatus.PENDING)
    )
    cancel_pending(session, f"appt-reminder:{appt.id}")
    template = rules.appointment_message(change, pending.template if pending is not None else None)
    if template is None:
        deliveries.cancel(session, pending, rules.WITHDRAWN_WITHIN_GRACE)
        return  # the client never heard of it: nothing to say
    if not cancelled and appt.ends_at <= now:
        return  # an appointment already over (entered afterwards): nothing to tell
    way = deliveries.route(contact, settings, needs_email_consent=False)
    if change == "booked" and not getattr(d, "announce", True):  # imported: reminders only, no confirmation
        if way.reached and not contact.opted_out:
            schedule_reminders(session, settings, contact, appt, event, now, generation, channel=way.channel)
        return
    if not way.reached:
        if way.reason.startswith(rules.NOT_REACHED):
            deliveries.not_reached(session, template, contact, event, way.reason)
        return  # discharged or no address: nobody to tell; or the desk now knows it must phone
    context = appointment_context(settings, contact, appt, "CANCEL" if cancelled else "REQUEST")
    due = client_due(settings, contact, now + timedelta(minutes=settings.grace_minutes))
    if pending is not None and pending.channel == way.channel:  # coalesce: one message, the latest state
        pending.template, pending.context, pending.due_at = template, context, due
    else:
        if pending is not None:
            deliveries.cancel(session, pending, "superseded: the client's channel changed")
        deliveries.enqueue(
            session,
            template,
            contact,
            event,
            context=context,
            due_at=due,
            schedule_key=message_key,
            channel=way.channel,
        )
    if not cancelled and not contact.opted_out:
        schedule_reminders(session, settings, contact, appt, event, now, generation, channel=way.channel)


def schedule_reminders(
    session: Session,
    settings: NotificationsSettings,
    contact: Contact,
    appt: AppointmentRecord,
    event: Event,
    now: datetime,
    generation: str = "",
    channel: str = "email",
) -> None:
    """One reminder per configured offset still in the future; ``generation`` makes new keys when reminders
    are scheduled again after an unsubscribe was lifted."""
    for hours in settings.reminder_offsets_hours:
        due = appt.starts_at - timedelta(hours=hours)
        if due <= now:
            continue
        context = {
            **appointment_context(settings, contact, appt, "REQUEST"),
            "confirm_url": reminder_link(settings, appt, "confirm"),
            "cancel_url": reminder_link(settings, appt, "cancel"),
            "choose_url": reminder_link(settings, appt, "choose"),  # one link for a text: coming, or not
            "unsubscribe_url": unsubscribe_link(settings, contact),
            "late_cancel_hours": settings.late_cancel_hours,
        }
        deliveries.enqueue(
            session,
            kinds.APPOINTMENT_REMINDER.name,
            contact,
            event,
            key=f"reminder:{appt.id}:{hours:g}h:{appt.starts_at.isoformat()}{':' + generation if generation else ''}",
            context=context,
            due_at=client_due(settings, contact, due),
            schedule_key=f"appt-reminder:{appt.id}",
            channel=channel,
        )


def upcoming_appointments(session: Session, client_id: str, now: datetime) -> list[AppointmentRecord]:
    return session.scalars(
        select(AppointmentRecord).where(
            AppointmentRecord.client_id == client_id,
            AppointmentRecord.status == AppointmentStatus.BOOKED,
            AppointmentRecord.starts_at > now,
        )
    ).all()


def reminder_link(settings: NotificationsSettings, appt: AppointmentRecord, action: str) -> str:
    token = links.sign(
        settings.link_secret, "appointment", {"a": appt.id, "s": appt.starts_at.isoformat(), "do": action}
    )
    return f"{settings.scheduling_url}/r/{token}"


def unsubscribe_link(settings: NotificationsSettings, contact: Contact) -> str:
    return (
        f"{settings.notifications_url}/unsubscribe/{links.sign(settings.link_secret, 'unsubscribe', {'c': contact.id})}"
    )


def schedule_questionnaire_reminder(
    session: Session,
    settings: NotificationsSettings,
    contact: Contact,
    event: Event,
    now: datetime,
    channel: str = "email",
) -> None:
    d = event.data
    due = now + timedelta(hours=settings.questionnaire_reminder_hours)
    if due >= d.expires_at:
        return
    reminder = kinds.QUESTIONNAIRE_REMINDER.name
    deliveries.enqueue(
        session,
        reminder,
        contact,
        event,
        due_at=client_due(settings, contact, due),
        schedule_key=f"q-reminder:{d.assignment_id}",
        channel=channel,
        context={
            "preferred_name": contact.display_name,
            "questionnaire_url": questionnaire_link(d, settings),
            "assignment_id": d.assignment_id,
            "expires_at": d.expires_at.isoformat(),
            "expires_local": _local(contact, d.expires_at),
            "expires_short": f"{d.expires_at.astimezone(ZoneInfo(contact.timezone)):%a %d %b %H:%M}",
        },
    )
