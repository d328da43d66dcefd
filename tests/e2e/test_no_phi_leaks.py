"""No personal data where it does not belong: the whole flow with a recognisable client, then a scan of every
log line of every service and worker, every event on every topic, the cookies and the request logs.

What the architecture allows: the client's preferred name and email on scheduling's own topics (notifications
needs them to write to the client), and the clinician's name and email there too. Nowhere else: not the legal
name, not the front-desk note, not a working questionnaire link, not an answer.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import requests

from shared.events.catalog import dead_letter_topics, directory_topics, event_topics
from tests.support.topics import events_on

LEGAL = "Zephyrine Quillfeather"
PREFERRED = "Zephy"
EMAIL = "zephy.quill@example.org"
NOTE = "NOTE-ZQ-7731 prefers the side entrance"
ALLOWED_PERSONAL_DATA = {"scheduling", "scheduling.directory"}  # topic suffixes where the contact may travel


def test_personal_data_stays_where_it_belongs(stack, mail, kafka_bootstrap, kafka_namespace, capfd):
    h = stack.headers()
    requests.post(
        stack.url("scheduling", "/api/appointment-types"),
        headers=h,
        json={"id": "individual", "name": "Individual therapy", "minutes": 50},
    )
    clinician = requests.post(
        stack.url("scheduling", "/api/clinicians"),
        headers=h,
        json={"name": "Dr Ada Okafor", "email": "dr.ada@practice.example"},
    ).json()
    client = requests.post(
        stack.url("scheduling", "/api/clients"),
        headers=h,
        json={
            "legal_name": LEGAL,
            "preferred_name": PREFERRED,
            "email": EMAIL,
            "consent_email": True,
            "clinician_id": clinician["id"],
        },
    ).json()
    appt = requests.post(
        stack.url("scheduling", "/api/appointments"),
        headers=h,
        json={
            "client_id": client["id"],
            "clinician_id": clinician["id"],
            "type_id": "individual",
            "starts_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "front_desk_note": NOTE,
            "override_reason": "entered after the session",
        },
    ).json()
    completed = requests.post(stack.url("scheduling", f"/api/appointments/{appt['id']}/complete"), headers=h)
    assert completed.ok
    flow = completed.headers["X-Request-ID"]  # the correlation id of everything this completion causes

    invitation = mail.wait_for(lambda m: m.to == EMAIL)[0]
    link = re.search(r"http://127\.0\.0\.1:\d+/q/([A-Za-z0-9_\-]+)", invitation.text())
    token = link.group(1)
    browser = requests.Session()
    page = browser.get(link.group(0))
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answers = {f"phq9.{i}": "0" for i in range(1, 10)} | {"phq9.9": "3", "phq9.difficulty": "2"}
    assert browser.post(link.group(0), data={"csrf": csrf, **answers}).ok
    mail.wait_for(lambda m: m.to == "dr.ada@practice.example")
    stack.settle()

    secrets_in_clear = [LEGAL, "Quillfeather", NOTE, "NOTE-ZQ-7731", token]
    contact = [PREFERRED, EMAIL]

    # Every log line of every service, web app and worker (they run in this process).
    captured = capfd.readouterr()
    logs = captured.out + captured.err
    assert "http.request" in logs  # the request log is there to scan
    for value in secrets_in_clear + contact:
        assert value not in logs, f"a log line holds {value!r}"
    assert "/q/<token>" in logs  # the request log names routes, never the URL with its token

    # One flow can be followed across the three services by its correlation id.
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{") and flow in line]
    assert {line["service"] for line in lines} == {"scheduling", "feedback", "notifications"}
    assert any(line.get("event_id") for line in lines if line["service"] != "scheduling")

    # Every event on every topic (the scan reads real content: the client's contact is where it may be).
    topics = event_topics() + directory_topics() + dead_letter_topics()
    directory = "\n".join(e.to_json() for e in events_on(kafka_bootstrap, f"{kafka_namespace}.scheduling.directory"))
    assert EMAIL in directory
    for topic in topics:
        text = "\n".join(e.to_json() for e in events_on(kafka_bootstrap, topic))
        for value in secrets_in_clear:
            assert value not in text, f"{topic} holds {value!r}"
        suffix = topic.removeprefix(f"{kafka_namespace}.")
        if suffix not in ALLOWED_PERSONAL_DATA:
            for value in contact:
                assert value not in text, f"{topic} holds {value!r}"
        assert '"scores"' not in text or suffix != "feedback", "questionnaire.completed carries scores"

    # The questionnaire page's cookie, opened: nothing about the client.
    app = stack.services["feedback"].app
    for cookie in browser.cookies:
        held = json.dumps(app.session_interface.get_signing_serializer(app).loads(cookie.value))
        for value in secrets_in_clear + contact:
            assert value not in held, f"cookie {cookie.name} holds {value!r}"
