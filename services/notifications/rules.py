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


def always_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    return None


def appointment_reminder_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    """A reminder goes only for a booked appointment, at the time it names, not yet started, to a client who has
    not unsubscribed."""
    if facts.appointment_status != AppointmentStatus.BOOKED:
        return f"appointment is {facts.appointment_status or 'unknown'}"
    if facts.appointment_starts_at.isoformat() != context["starts_at"]:
        return "appointment moved"
    if facts.appointment_starts_at <= facts.now:
        return "appointment already started"
    if facts.opted_out:
        return "unsubscribed"
    return None


def questionnaire_reminder_wanted(context: dict, facts: SendTimeFacts) -> str | None:
    """No reminder for a questionnaire already answered or expired."""
    status = facts.questionnaire_status
    if status is not None and status != QuestionnaireStatus.OPEN:
        return f"questionnaire {status}"
    return None
