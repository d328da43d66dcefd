"""The flow that matters most, through HTTP, the real broker and the real SMTP server:
completed session -> questionnaire emailed -> client answers -> scored -> therapist alerted."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.support.topics import events_on

PHQ9_ALL_ZERO = {f"phq9.{i}": "0" for i in range(1, 10)}


def _complete_past_session(stack, clinician, client, start, minutes=50) -> dict:
    """Book a session that has already happened (override: outside hours) and complete it; the completion."""
    h = stack.headers()
    appt = requests.post(
        stack.url("scheduling", "/api/appointments"),
        headers=h,
        json={
            "client_id": client["id"],
            "clinician_id": clinician["id"],
            "type_id": "individual",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=minutes)).isoformat(),
            "override_reason": "session entered after it happened",
        },
    )
    assert appt.status_code == 201, appt.text
    done = requests.post(stack.url("scheduling", f"/api/appointments/{appt.json()['id']}/complete"), headers=h)
    assert done.status_code == 200, done.text
    return done.json()


def _register_and_complete(stack, client_email="jo.bloggs@example.org", therapist="dr.ada@practice.example"):
    h = stack.headers()
    r = requests.post(
        stack.url("scheduling", "/api/appointment-types"),
        headers=h,
        json={"id": "individual", "name": "Individual therapy", "minutes": 50},
    )
    assert r.status_code in (201, 409), r.text
    clinician = requests.post(
        stack.url("scheduling", "/api/clinicians"),
        headers=h,
        json={"name": "Dr Ada Okafor", "email": therapist, "working_hours": {"mon": [["09:00", "17:00"]]}},
    ).json()
    client = requests.post(
        stack.url("scheduling", "/api/clients"),
        headers=h,
        json={
            "legal_name": "Joanna Bloggs",
            "preferred_name": "Jo",
            "email": client_email,
            "consent_email": True,
            "clinician_id": clinician["id"],
        },
    ).json()
    done = _complete_past_session(stack, clinician, client, datetime.now(UTC) - timedelta(hours=3))
    assert done["session_number"] == 1
    return clinician, client


def _link_in(message) -> str:
    match = re.search(r"http://127\.0\.0\.1:\d+/q/[A-Za-z0-9_\-]+", message.text())
    assert match, "the invitation carries the questionnaire link"
    return match.group(0)


def _submit(link: str, answers: dict) -> requests.Response:
    browser = requests.Session()
    page = browser.get(link)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return browser.post(link, data={"csrf": csrf, **answers}, allow_redirects=True)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_completed_session_to_therapist_alert(database, request, mail):
    stack = request.getfixturevalue("stack" if database == "sqlite" else "postgres_stack")
    clinician, client = _register_and_complete(stack)

    invitations = mail.wait_for(lambda m: m.to == "jo.bloggs@example.org")
    assert len(invitations) == 1
    link = _link_in(invitations[0])

    answered = _submit(link, {**PHQ9_ALL_ZERO, "phq9.9": "1", "phq9.difficulty": "1"})
    assert answered.status_code == 200
    assert "Samaritans" in answered.text  # the crisis resources, straight away

    alerts = mail.wait_for(lambda m: m.to == "dr.ada@practice.example")
    assert len(alerts) == 1
    stack.settle()

    # Exactly one of each, once everything has settled.
    assert len([m for m in mail.messages() if m.to == "jo.bloggs@example.org"]) == 1
    alert_mail = [m for m in mail.messages() if m.to == "dr.ada@practice.example"]
    assert len(alert_mail) == 1
    body = alert_mail[0].text() + alert_mail[0].html() + alert_mail[0].subject
    assert alert_mail[0].subject.startswith("URGENT")
    for leaked in ("Jo", "Bloggs", "Joanna", "jo.bloggs", "better off dead", "Several days", "PHQ"):
        assert leaked not in body, f"alert email leaks {leaked!r}"
    assert "/alerts/" in body

    # The link is single use.
    again = requests.get(link)
    assert again.status_code == 404
    assert "Jo" not in again.text


def test_reliable_deterioration_alerts_on_the_second_questionnaire(stack, mail):
    clinician, client = _register_and_complete(stack, "sam@example.org", "dr.lin@practice.example")
    first = mail.wait_for(lambda m: m.to == "sam@example.org")[0]
    baseline = {**PHQ9_ALL_ZERO, "phq9.1": "2", "phq9.2": "2", "phq9.3": "2", "phq9.4": "1", "phq9.difficulty": "1"}
    assert _submit(_link_in(first), baseline).status_code == 200  # total 7: no alert

    # A second session; its questionnaire comes back 7 points worse (14): a reliable deterioration (>= 6).
    done = _complete_past_session(stack, clinician, client, datetime.now(UTC) - timedelta(minutes=20), minutes=10)
    assert done["session_number"] == 2
    second = mail.wait_for(lambda m: m.to == "sam@example.org", count=2)[1]
    worse = {**baseline, "phq9.5": "2", "phq9.6": "2", "phq9.7": "2", "phq9.8": "1"}
    page = _submit(_link_in(second), worse)
    assert page.status_code == 200 and "Samaritans" not in page.text

    alerts = mail.wait_for(lambda m: m.to == "dr.lin@practice.example")
    stack.settle()
    assert len([m for m in mail.messages() if m.to == "dr.lin@practice.example"]) == 1
    assert not alerts[0].subject.startswith("URGENT")


def test_an_undeliverable_questionnaire_shows_up_for_the_front_desk(stack, mail):
    mail.handler.refuse_with = "550 5.1.1 Mailbox unavailable"
    clinician, client = _register_and_complete(stack, "nobody@example.org", "dr.k@practice.example")
    deadline = time.monotonic() + 60
    problems = []
    while not problems and time.monotonic() < deadline:
        problems = requests.get(
            stack.url("scheduling", "/api/delivery-problems"),
            headers=stack.headers(),
            params={"client_id": client["id"]},
        ).json()
    assert [p["template"] for p in problems] == ["questionnaire_invitation"]
    assert "550" in problems[0]["error"]


def test_completing_emits_exactly_one_session_completed_with_its_number(stack):

    from shared.events.catalog import topic_for

    clinician, client = _register_and_complete(stack, "sam@example.org", "dr.s@practice.example")
    h = stack.headers()
    second = _complete_past_session(stack, clinician, client, datetime.now(UTC) - timedelta(minutes=90))
    assert (
        requests.post(stack.url("scheduling", f"/api/appointments/{second['id']}/complete"), headers=h).status_code
        == 409
    )  # completing twice is refused, and emits nothing
    stack.settle()

    events = events_on(stack.bootstrap, topic_for("scheduling"))
    completed = [e for e in events if e.type == "attune.scheduling.session.completed"]
    assert [e.data["session_number"] for e in completed] == [1, 2]
    assert [e.data["appointment_id"] for e in completed][1] == second["id"]
    assert all(e.subject == client["id"] for e in completed)
