"""Text messages, without a network: each template's length in SMS segments with the longest real values,
the channel a client message takes, and phone numbers as the front desk types them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
import pytest
from marshmallow import ValidationError

from services.notifications import messages, scheduled
from services.notifications.models import AppointmentRecord
from services.notifications.rules import NOT_REACHED, client_route
from services.notifications.settings import NotificationsSettings
from services.scheduling.schemas import ClientIn
from shared import links
from shared.sealed import seal

SETTINGS = NotificationsSettings(testing=True, public_urls={"scheduling": "https://desk.oak-street-practice.example"})
START = datetime(2026, 9, 30, 9, 0, tzinfo=UTC)
APPT = AppointmentRecord(
    id="6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c0d",
    client_id="c",
    clinician_id="k",
    appointment_type="individual",
    modality="telehealth",
    starts_at=START,
    ends_at=START + timedelta(minutes=50),
    status="booked",
    sequence=3,
    sealed_telehealth_url=seal(SETTINGS.link_key, "https://video.example-provider.com/j/84937261055?pwd=Xk29sLq0"),
)


def segments(text: str) -> int:
    """SMS segments of a GSM-7 text (3GPP TS 23.038/23.040): 160 septets in one, 153 a part when
    concatenated; an extension character (e.g. the euro sign) takes two. Raises if the text needs UCS-2."""
    septets = len(text.encode("gsm03.38"))
    return 1 if septets <= 160 else -(-septets // 153)


LONGEST = {
    "preferred_name": "Alexandria-Josephine",  # 20 characters: the desk's preferred name is short by nature
    "when_local": "Wednesday 30 September at 10:00 (America/Argentina/Buenos_Aires)",
    "expires_local": "Wednesday 30 September at 10:00 (America/Argentina/Buenos_Aires)",
    "expires_short": "Wed 30 Sep 10:00",
    "questionnaire_url": "https://care.oak-street-practice.example/q/" + "x" * 43,  # feedback's token length
    "report_url": "https://care.oak-street-practice.example/p/" + "x" * 43,
}


def _context(template: str) -> dict:
    contact = SimpleNamespace(display_name=LONGEST["preferred_name"], timezone="America/Argentina/Buenos_Aires")
    ctx = {**scheduled.appointment_context(SETTINGS, contact, APPT, "REQUEST"), **LONGEST}
    ctx["choose_url"] = scheduled.reminder_link(SETTINGS, APPT, "choose")
    return ctx


@pytest.mark.parametrize(
    "template",
    [
        "appointment_confirmation",
        "appointment_change",
        "appointment_cancellation",
        "appointment_reminder",
        "questionnaire_invitation",
        "questionnaire_reminder",
        "progress_report",
    ],
)
@pytest.mark.parametrize("video_link", [True, False])
def test_every_text_fits_in_two_segments_of_plain_gsm_characters(template, video_link):
    settings = SETTINGS.replace(sms_video_link=video_link)
    text = messages.render_text(SimpleNamespace(template=template, context=_context(template)), settings)
    assert segments(text) <= 2, (len(text), text)  # a curly quote or a dash would not even encode (UCS-2)
    assert "  " not in text and "Reply STOP" in text
    with_link = template in ("appointment_confirmation", "appointment_change")  # reminders say "by video" only
    assert ("video.example-provider.com" in text) == (video_link and with_link)


def test_the_shortest_common_text_is_one_segment():
    ctx = {**_context("appointment_confirmation"), "preferred_name": "Jo", "telehealth": False,
           "when_short": "Tue 03 Nov 10:00"}  # fmt: skip
    text = messages.render_text(SimpleNamespace(template="appointment_confirmation", context=ctx), SETTINGS)
    assert text == ("Hi Jo, your appointment is booked for Tue 03 Nov 10:00. Reply STOP to opt out.")
    assert segments(text) == 1


def test_segments_are_counted_as_the_standard_says():
    assert [segments("x" * n) for n in (160, 161, 306, 307)] == [1, 2, 2, 3]
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2  # two septets each
    with pytest.raises(UnicodeEncodeError):
        segments("Hi Zoë \u2014 see you")


def test_a_reminder_text_carries_one_link_that_offers_both_answers():
    claim = links.verify(SETTINGS.link_secret, "appointment", _context("x")["choose_url"].rsplit("/", 1)[1], 60)
    assert claim["do"] == "choose" and claim["a"] == APPT.id


BASE = dict(active=True, email="jo@example.org", consent_email=True, phone="+447700900123", consent_sms=True,
            sms_enabled=True, needs_email_consent=False)  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "channel", "reason"),
    [
        ({"preferred": "sms"}, "sms", None),
        ({"preferred": "sms", "phone": None}, None, NOT_REACHED + "no mobile number"),
        ({"preferred": "sms", "consent_sms": False}, None, NOT_REACHED + "no consent to text messages"),
        (
            {"preferred": "sms", "sms_enabled": False},
            None,
            NOT_REACHED + "text messages are not set up for this practice",
        ),
        ({"preferred": "phone"}, None, NOT_REACHED + "the client prefers phone calls"),
        ({"preferred": "phone", "needs_email_consent": True}, "email", None),  # questionnaires: consent decides
        ({"preferred": "email"}, "email", None),
        ({"preferred": "email", "email": None}, None, "no email address"),
        ({"preferred": "email", "consent_email": False, "needs_email_consent": True}, None, "no consent to email"),
        ({"preferred": "sms", "active": False}, None, "client discharged"),
    ],
)
def test_the_channel_is_the_clients_own_choice_never_a_silent_other(changes, channel, reason):
    found = client_route(**{**BASE, **changes})
    assert (found.channel, found.reason) == (channel, reason)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("07400 123456", "+447400123456"), ("+44 (0)7400 123456", "+447400123456"), ("+1 415 555 2671", "+14155552671")],
)
def test_phone_numbers_are_stored_in_e164(typed, stored):
    assert ClientIn().load({"legal_name": "Jo Bloggs", "phone": typed})["phone"] == stored


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "020 7946 0000", "consent_sms": True}, "phone"),  # a landline cannot take texts
        ({"consent_sms": True}, "consent_sms"),
        ({"preferred_channel": "sms"}, "preferred_channel"),
    ],
)
def test_text_messages_need_a_valid_mobile_number(data, field):
    with pytest.raises(ValidationError) as found:
        ClientIn().load({"legal_name": "Jo Bloggs", **data})
    assert field in found.value.messages
