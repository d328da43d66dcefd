"""Notifications' pure decisions and its registry of message kinds, without a database or SMTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notifications import kinds, rules
from services.notifications.rules import SendTimeFacts

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
TEMPLATES = Path(kinds.__file__).parent / "templates" / "email"


@pytest.mark.parametrize(
    ("change", "pending", "expected"),
    [
        ("booked", None, rules.CONFIRMATION),
        ("rescheduled", None, rules.CHANGE),  # the client was told already: say what changed
        ("rescheduled", rules.CONFIRMATION, rules.CONFIRMATION),  # not yet told: confirm the new time
        ("rescheduled", rules.CHANGE, rules.CHANGE),
        ("cancelled", None, rules.CANCELLATION),
        ("cancelled", rules.CHANGE, rules.CANCELLATION),
        ("cancelled", rules.CONFIRMATION, None),  # booked and cancelled within the grace period: say nothing
    ],
)
def test_quick_edits_coalesce_into_the_message_the_client_needs(change, pending, expected):
    assert rules.appointment_message(change, pending) == expected


def _reminder_facts(**changes) -> SendTimeFacts:
    facts = {"now": NOW, "appointment_status": "booked", "appointment_starts_at": NOW + timedelta(days=1)}
    return SendTimeFacts(**{**facts, **changes})


def test_an_appointment_reminder_goes_only_for_the_booked_time_not_yet_started():
    context = {"starts_at": (NOW + timedelta(days=1)).isoformat()}
    assert rules.appointment_reminder_wanted(context, _reminder_facts()) is None
    assert rules.appointment_reminder_wanted(context, _reminder_facts(appointment_status="cancelled")) == (
        "appointment is cancelled"
    )
    assert rules.appointment_reminder_wanted(context, _reminder_facts(appointment_status=None)) == (
        "appointment is unknown"
    )
    moved = _reminder_facts(appointment_starts_at=NOW + timedelta(days=2))
    assert rules.appointment_reminder_wanted(context, moved) == "appointment moved"
    late = {"starts_at": NOW.isoformat()}
    assert rules.appointment_reminder_wanted(late, _reminder_facts(appointment_starts_at=NOW)) == (
        "appointment already started"
    )
    assert rules.appointment_reminder_wanted(context, _reminder_facts(opted_out=True)) == "unsubscribed"


def test_a_questionnaire_reminder_stops_once_it_is_answered_or_expired():
    assert rules.questionnaire_reminder_wanted({}, SendTimeFacts(now=NOW, questionnaire_status="open")) is None
    assert rules.questionnaire_reminder_wanted({}, SendTimeFacts(now=NOW)) is None  # not projected yet: send
    for status in ("completed", "expired"):
        facts = SendTimeFacts(now=NOW, questionnaire_status=status)
        assert rules.questionnaire_reminder_wanted({}, facts) == f"questionnaire {status}"


@pytest.mark.parametrize("kind", list(kinds.KINDS.values()), ids=list(kinds.KINDS))
def test_every_kind_has_both_templates_and_a_subject(kind):
    assert (TEMPLATES / f"{kind.name}.txt").is_file() and (TEMPLATES / f"{kind.name}.html").is_file()
    assert kind.subject and kind.timing


def test_credentials_are_declared_where_they_travel_and_alerts_ignore_quiet_hours():
    assert "questionnaire_url" in kinds.QUESTIONNAIRE_INVITATION.secret_keys
    assert {"confirm_url", "cancel_url", "unsubscribe_url"} <= set(kinds.APPOINTMENT_REMINDER.secret_keys)
    assert kinds.ALERT_NOTICE.quiet_hours is False
    assert kinds.NON_ESSENTIAL == ("appointment_reminder",)  # changes and cancellations always reach the client
    assert kinds.ALERT_NOTICE.subject_for({"severity": "urgent"}).startswith("URGENT: ")
    assert not kinds.ALERT_NOTICE.subject_for({"severity": "high"}).startswith("URGENT")


def _client(**changes) -> SendTimeFacts:
    facts = {"now": NOW, "client_active": True, "client_email": "jo@example.org", "consent_email": True}
    return SendTimeFacts(**{**facts, "channel": "email", **changes})


@pytest.mark.parametrize(
    ("facts", "questionnaire", "appointment"),
    [
        (_client(), None, None),
        (_client(client_active=False), "client discharged", "client discharged"),
        (_client(client_email=None), "no email address any more", "no email address any more"),
        (_client(consent_email=False), "consent to email withdrawn", None),  # appointments need no consent
        (_client(channel="sms"), None, "client prefers another channel"),
        (SendTimeFacts(now=NOW), None, None),  # not a client: staff messages are not the directory's to stop
    ],
)
def test_a_client_message_goes_only_to_a_client_who_can_still_be_reached(facts, questionnaire, appointment):
    assert rules.questionnaire_message_wanted({}, facts) == questionnaire
    assert rules.appointment_message_wanted({}, facts) == appointment


def test_a_questionnaire_link_is_never_sent_used_or_expired():
    soon = {"expires_at": (NOW + timedelta(hours=1)).isoformat()}
    assert rules.questionnaire_link_usable(soon, _client()) is None
    assert rules.questionnaire_link_usable(soon, _client(now=NOW + timedelta(hours=2))) == "link expired"
    assert rules.questionnaire_link_usable(soon, _client(questionnaire_status="completed")) == (
        "questionnaire completed"
    )
