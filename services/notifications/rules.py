"""Notification decisions, free of Flask, SQL and Kafka: which appointment message a change calls for
(coalescing quick edits), and whether a scheduled message is still wanted when it falls due. Quiet hours are
in ``quiet_hours.py``. The adapters (``scheduled.py``, ``deliveries.py``) load the facts and apply the verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.statuses import AppointmentStatus, QuestionnaireStatus

CONFIRMATION, CHANGE, CANCELLATION = "appointment_confirmation", "appointment_change", "appointment_cancellation"
WITHDRAWN_WITHIN_GRACE = "booked and cancelled within the grace period"


def appointment_message(change: str, pending_template: str | None) -> str | None:
    """The message an appointment change (``booked``, ``rescheduled``, ``cancelled``) calls for, given the
    message still waiting out its grace period (if any). ``None``: withdraw the pending message and say nothing,
    because the client never heard of an appointment booked and cancelled within the grace period. A change to
    an appointment whose confirmation has not gone out yet is still a confirmation, of the new time."""
    unconfirmed = pending_template == CONFIRMATION
    if change == "cancelled":
        return None if unconfirmed else CANCELLATION
    if change == "rescheduled" and not unconfirmed:
        return CHANGE
    return CONFIRMATION


@dataclass(frozen=True)
class SendTimeFacts:
    """What the ledger knows at send time about the things a scheduled message refers to."""

    now: datetime
    opted_out: bool = False
    appointment_status: str | None = None
    appointment_starts_at: datetime | None = None
    questionnaire_status: str | None = None
    # The recipient as the directory knows them now (None: not a client, or not in the directory).
    client_active: bool | None = None
    client_email: str | None = None
    consent_email: bool | None = None
    channel: str | None = None  # the client's preferred channel now
    delivery_channel: str = "email"  # the channel the message was queued for
    client_phone: str | None = None
    consent_sms: bool | None = None


NOT_REACHED = "not reached: "


@dataclass(frozen=True)
class Route:
    """How a client message goes: ``channel`` (email or sms), or None with ``reason`` saying why it cannot."""

    channel: str | None
    reason: str | None = None

    @property
    def reached(self) -> bool:
        return self.channel is not None


def client_route(
    *,
    preferred: str,
    active: bool,
    email: str | None,
    consent_email: bool,
    phone: str | None,
    consent_sms: bool,
    sms_enabled: bool,
    needs_email_consent: bool,
) -> Route:
    """The channel a client message takes: the client's preferred one, never another behind their back. A text
    needs a number and consent to texts; an email needs an address (and, for questionnaires, consent to email).
    A reason starting "not reached" is one the front desk must see and act on (the client chose a channel we
    cannot use); the others are the client's own choices or a discharge."""
    if not active:
        return Route(None, "client discharged")
    if preferred == "sms":
        if not sms_enabled:
            return Route(None, NOT_REACHED + "text messages are not set up for this practice")
        if not phone:
            return Route(None, NOT_REACHED + "no mobile number")
        if not consent_sms:
            return Route(None, NOT_REACHED + "no consent to text messages")
        return Route("sms")
    if preferred == "phone" and not needs_email_consent:  # questionnaires go by email to whoever consented
        return Route(None, NOT_REACHED + "the client prefers phone calls")
    if not email:
        return Route(None, "no email address")
    if needs_email_consent and not consent_email:
        return Route(None, "no consent to email")
    return Route("email")


def always_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    return None


def client_reachable(facts: SendTimeFacts, *, needs_consent: bool) -> str | None:
    """Whether a client message may still go to the client at all: not after a discharge, not without an
    address, not against their consent (questionnaires) or their preferred channel (appointments)."""
    if facts.client_active is None:
        return None  # not a client message
    if not facts.client_active:
        return "client discharged"
    if facts.delivery_channel == "sms":
        if not facts.client_phone:
            return "no mobile number any more"
        if not facts.consent_sms:
            return "consent to text messages withdrawn"
        if facts.channel != "sms":
            return "client prefers another channel"
        return None
    if not facts.client_email:
        return "no email address any more"
    if needs_consent and not facts.consent_email:
        return "consent to email withdrawn"
    if not needs_consent and facts.channel not in (None, "email"):
        return "client prefers another channel"  # a questionnaire queued by email still goes to who consented
    return None


def questionnaire_link_usable(context: dict, facts: SendTimeFacts) -> str | None:
    """A questionnaire link that has been used or has expired is never sent."""
    status = facts.questionnaire_status
    if status is not None and status != QuestionnaireStatus.OPEN:
        return f"questionnaire {status}"
    expires = context.get("expires_at")
    if expires and datetime.fromisoformat(expires) <= facts.now:
        return "link expired"
    return None


def questionnaire_message_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    return client_reachable(facts, needs_consent=True) or questionnaire_link_usable(context, facts)


def appointment_message_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    return client_reachable(facts, needs_consent=False)


def appointment_reminder_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    """A reminder goes only for a booked appointment, at the time it names, not yet started, to a client who has
    not unsubscribed."""
    if unreachable := client_reachable(facts, needs_consent=False):
        return unreachable
    if facts.appointment_status != AppointmentStatus.BOOKED:
        return f"appointment is {facts.appointment_status or 'unknown'}"
    if facts.appointment_starts_at.isoformat() != context["starts_at"]:
        return "appointment moved"
    if facts.appointment_starts_at <= facts.now:
        return "appointment already started"
    if facts.opted_out:
        return "unsubscribed"
    return None


def progress_report_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    """A progress report link goes, as a questionnaire does, only with consent to email or texts, and never
    after it expired."""
    expires = context.get("expires_at")
    if expires and datetime.fromisoformat(expires) <= facts.now:
        return "link expired"
    return client_reachable(facts, needs_consent=True)


def questionnaire_reminder_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    """No reminder for a questionnaire already answered or expired."""
    return questionnaire_message_wanted(context, facts)
