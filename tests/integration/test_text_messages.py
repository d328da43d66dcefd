"""Text messages on the real system: the three services on the real broker, texts through the local SMS
provider (``deploy/smssink.py``: Twilio's Messages API, its signed delivery reports and inbound replies).

A client who prefers texts gets the confirmation and the reminder by text; STOP ends consent to texts (the
desk's consent trail says so, and the next message is "not reached" for the desk); a text the network could
not deliver shows up as a delivery problem; unsigned webhook calls change nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from deploy.smssink import SmsSink
from services.scheduling.queries import calendar_rows
from tests.support.ports import free_port
from tests.support.stack import Stack

JO, SAM = "+447400123456", "+447400654321"
LEAD = timedelta(minutes=30)  # the first appointment is this far ahead; its reminder falls due seconds later


def _eventually(fetch, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if check(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.fixture
def texting(kafka_bootstrap, kafka_namespace, sqlite_urls, mail, tmp_path):
    sms = SmsSink(tmp_path / "sms", port=free_port())
    sms.fail_numbers.add(SAM)
    start = (datetime.now(UTC) + LEAD + timedelta(minutes=1)).replace(second=0, microsecond=0)
    # due 90 s from now: after the booking below (starting the system takes a while), soon enough to wait for
    reminder_hours = (start - datetime.now(UTC) - timedelta(seconds=90)).total_seconds() / 3600
    stack = Stack(
        sqlite_urls,
        kafka_bootstrap,
        mail.port,
        settings={
            "notifications": {
                "grace_minutes": 0,
                "sms_api_url": sms.url,
                "reminder_offsets_hours": (reminder_hours,),
            }
        },
    )
    sms.inbound_url = stack.url("notifications", "/sms/inbound")
    sms.start()
    h = stack.headers()
    requests.post(
        stack.url("scheduling", "/api/appointment-types"),
        headers=h,
        json={"id": "individual", "name": "Individual therapy", "minutes": 50},
    )
    clinician = requests.post(
        stack.url("scheduling", "/api/clinicians"),
        headers=h,
        json={"name": "Dr Ada Okafor", "email": "ada@practice.example", "working_hours": {"mon": [["09:00", "17:00"]]}},
    ).json()
    yield stack, sms, clinician, start
    stack.close()
    sms.stop()


def _register(stack, clinician, phone: str, **extra) -> dict:
    client = requests.post(
        stack.url("scheduling", "/api/clients"),
        headers=stack.headers(),
        json={
            "legal_name": "Joanna Bloggs",
            "preferred_name": "Jo",
            "phone": phone.replace("+44", "0"),  # as the front desk types it: stored in E.164
            "preferred_channel": "sms",
            "consent_sms": True,
            "clinician_id": clinician["id"],
            **extra,
        },
    )
    assert client.status_code == 201, client.text
    return client.json()


def _book(stack, clinician, client, start) -> dict:
    appt = requests.post(
        stack.url("scheduling", "/api/appointments"),
        headers=stack.headers(),
        json={
            "client_id": client["id"],
            "clinician_id": clinician["id"],
            "type_id": "individual",
            "starts_at": start.isoformat(),
            "override_reason": "test: outside working hours",
        },
    )
    assert appt.status_code == 201, appt.text
    return appt.json()


def _problems(stack, client) -> list[dict]:
    return requests.get(
        stack.url("scheduling", "/api/delivery-problems"), headers=stack.headers(), params={"client_id": client["id"]}
    ).json()


def test_confirmation_and_reminder_by_text_then_stop(texting, mail):
    stack, sms, clinician, start = texting
    client = _register(stack, clinician, JO)
    assert client["phone"] == JO and client["consent_sms"] is True and client["consent_sms_at"]
    _book(stack, clinician, client, start)

    def appointment_texts(t):
        return t.to == JO and ("appointment is booked" in t.body or "reminder:" in t.body)

    texts = sms.wait_for(appointment_texts, count=2, timeout=150)
    confirmation, reminder = sorted(texts, key=lambda t: t.at)[:2]
    assert confirmation.body.startswith("Hi Jo, your appointment is booked for ")
    # the intake questionnaire went by text too: the client prefers texts and consented to them
    [intake] = [t for t in sms.messages() if "tell us how you have been" in t.body]
    assert intake.to == JO and "/q/" in intake.body
    assert "Reply STOP" in confirmation.body and "therapy" not in confirmation.body.lower()
    assert reminder.body.startswith("Hi Jo, reminder: ") and "/r/" in reminder.body
    assert mail.messages() == []  # texts, not email, for a client who prefers them
    # the provider's delivery reports came back signed and were accepted
    _eventually(lambda: [r for r in sms.reports if r[1] == "delivered"], lambda found: len(found) >= 2)
    assert all(answer == 204 for _, _, answer in sms.reports)

    # an unsigned reply changes nothing; a signed STOP ends consent to texts
    forged = requests.post(stack.url("notifications", "/sms/inbound"), data={"From": JO, "Body": "STOP"})
    assert forged.status_code == 403
    assert sms.reply(JO, "Stop") == 200

    def trail():
        return requests.get(stack.url("scheduling", f"/api/clients/{client['id']}/consent"), headers=stack.headers())

    found = _eventually(trail, lambda r: any(c["how"] == "replied STOP" for c in r.json()))
    assert any(c["channel"] == "sms" and not c["given"] and c["how"] == "replied STOP" for c in found.json())
    record = requests.get(stack.url("scheduling", f"/api/clients/{client['id']}"), headers=stack.headers()).json()
    assert record["consent_sms"] is False

    # the next appointment cannot go by text: the desk is told, and no text goes out
    before = len(sms.messages())
    _book(stack, clinician, client, start + timedelta(days=7))
    problems = _eventually(lambda: _problems(stack, client), lambda p: len(p) >= 1)
    assert [p["template"] for p in problems] == ["appointment_confirmation"]
    assert problems[0]["error"] == "not reached: no consent to text messages"
    stack.settle()
    assert len(sms.messages()) == before
    with stack.services["scheduling"].runtime.sessions() as s:  # the day list marks the client "not reached"
        rows = calendar_rows(s, start - timedelta(days=1), start + timedelta(days=8))
    assert [row.unreached for row in rows] == [True, True]


def test_a_text_the_network_could_not_deliver_is_a_problem_for_the_desk(texting):
    stack, sms, clinician, _ = texting
    client = _register(stack, clinician, SAM)
    _book(stack, clinician, client, (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0))
    problems = _eventually(lambda: _problems(stack, client), lambda p: len(p) >= 2)
    assert sorted(p["template"] for p in problems) == ["appointment_confirmation", "questionnaire_invitation"]
    assert all(p["error"].startswith("text failed (provider error 30003)") for p in problems)


def test_a_number_that_cannot_take_texts_is_refused_at_registration(texting):
    stack, _, clinician, _ = texting
    h = stack.headers()
    body = {"legal_name": "Kim Lee", "preferred_channel": "sms", "consent_sms": True, "clinician_id": clinician["id"]}
    bad = requests.post(stack.url("scheduling", "/api/clients"), headers=h, json={**body, "phone": "12345"})
    assert bad.status_code == 422 and "phone" in bad.json()["errors"]
    landline = requests.post(
        stack.url("scheduling", "/api/clients"), headers=h, json={**body, "phone": "020 7946 0000"}
    )
    assert landline.status_code == 422 and "mobile" in " ".join(landline.json()["errors"]["phone"])
    missing = requests.post(stack.url("scheduling", "/api/clients"), headers=h, json=body)
    assert missing.status_code == 422 and "consent_sms" in missing.json()["errors"]
