"""Every kind of message, declared once: its templates, subject, credentials, whether an unsubscribed client
still gets it, its timing, and the rule that decides at send time whether it is still wanted.

Adding a kind = one entry here + ``templates/email/<name>.txt`` and ``.html`` + the handler that enqueues it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.notifications import rules
from shared.statuses import Severity


@dataclass(frozen=True)
class Kind:
    name: str  # also the template file name: templates/email/<name>.txt and .html
    subject: str
    timing: str  # when it is due, in words (the code that enqueues it computes the time)
    essential: bool = True  # False: an unsubscribed client no longer gets it
    quiet_hours: bool = True  # client messages wait out the client's quiet hours; staff alerts never do
    secret_keys: tuple[str, ...] = ()  # context keys that are credentials: cleared from the ledger once sent
    still_wanted: Callable[[dict, rules.SendTimeFacts], str | None] = rules.always_wanted
    urgent_prefix: bool = False  # "URGENT: " before the subject when the context's severity is urgent
    retry_class: str = "client"  # "alert": retried for NOTIFY_ALERT_RETRY_HOURS, else NOTIFY_CLIENT_RETRY_HOURS

    def subject_for(self, context: dict) -> str:
        if self.urgent_prefix and context.get("severity") == Severity.URGENT:
            return "URGENT: " + self.subject
        return self.subject


QUESTIONNAIRE_INVITATION = Kind(
    "questionnaire_invitation",
    "Your check-in before your next session",
    timing="at once (after quiet hours)",
    secret_keys=("questionnaire_url",),
    still_wanted=rules.questionnaire_message_wanted,
)
QUESTIONNAIRE_REMINDER = Kind(
    "questionnaire_reminder",
    "A reminder: your check-in",
    timing="NOTIFY_QUESTIONNAIRE_REMINDER_HOURS after the invitation, if that is before the link expires",
    secret_keys=("questionnaire_url",),
    still_wanted=rules.questionnaire_reminder_wanted,
)
PROGRESS_REPORT = Kind(
    "progress_report",
    "Your progress so far",
    timing="at once (after quiet hours)",
    secret_keys=("report_url",),
    still_wanted=rules.progress_report_wanted,
)
ALERT_NOTICE = Kind(
    "alert_notice",
    "A client on your caseload needs attention",
    timing="at once, day or night",
    quiet_hours=False,
    urgent_prefix=True,
    retry_class="alert",
)


def _appointment_message(name: str, subject: str) -> Kind:
    """Confirmation, change and cancellation: coalesced over the grace period, with an .ics attached."""
    timing = "after the grace period (NOTIFY_GRACE_MINUTES)"
    return Kind(name, subject, timing=timing, still_wanted=rules.appointment_message_wanted)


APPOINTMENT_CONFIRMATION = _appointment_message(rules.CONFIRMATION, "Your appointment is booked")
APPOINTMENT_CHANGE = _appointment_message(rules.CHANGE, "Your appointment has changed")
APPOINTMENT_CANCELLATION = _appointment_message(rules.CANCELLATION, "Your appointment is cancelled")
APPOINTMENT_REMINDER = Kind(
    "appointment_reminder",
    "Reminder: your appointment",
    timing="NOTIFY_REMINDER_OFFSETS_HOURS before the start",
    essential=False,
    secret_keys=("confirm_url", "cancel_url", "choose_url", "unsubscribe_url"),
    still_wanted=rules.appointment_reminder_wanted,
)

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        QUESTIONNAIRE_INVITATION,
        QUESTIONNAIRE_REMINDER,
        PROGRESS_REPORT,
        ALERT_NOTICE,
        APPOINTMENT_CONFIRMATION,
        APPOINTMENT_CHANGE,
        APPOINTMENT_CANCELLATION,
        APPOINTMENT_REMINDER,
    )
}
NON_ESSENTIAL = tuple(name for name, kind in KINDS.items() if not kind.essential)


def kind_of(template: str) -> Kind:
    return KINDS[template]
