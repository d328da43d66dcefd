"""Questionnaires in the room: a practice tablet in kiosk mode, and questionnaires started on demand (trigger
``manual``), through feedback's API and pages on both databases."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.feedback import create_app, kiosk
from services.feedback.models import Alert, Assignment, ClientRecord, KioskDevice
from shared.db import transaction, utcnow
from shared.events import catalog as events
from shared.messaging.tables import OutboxMessage
from tests.support.apps import service_runtime, staff_headers
from tests.support.feedback_data import phq9


@pytest.fixture
def fb(db_url):
    runtime = service_runtime("feedback", db_url)
    with transaction(runtime.sessions) as s:
        s.add(ClientRecord(id="c-jo", preferred_name="Jo", clinician_id="k-ada", episode_id="e1", consent_email=False))
        s.add(ClientRecord(id="c-sam", preferred_name="Sam", clinician_id="k-lin", episode_id="e2", consent_email=True))
    app = create_app(runtime.settings, runtime)
    yield app.test_client(), runtime
    runtime.engine.dispose()


def _tablet(c) -> tuple[str, str]:
    made = c.post("/api/kiosks", json={"name": "Waiting room tablet"}, headers=staff_headers("admin"))
    assert made.status_code == 201
    return made.json["id"], made.json["url"].rsplit("/kiosk/", 1)[1]


def test_a_tablet_gets_one_clients_form_once_and_scores_it_like_any_other(fb):
    c, runtime = fb
    assert c.post("/api/kiosks", json={"name": "x"}, headers=staff_headers("frontdesk")).status_code == 403
    tablet_id, token = _tablet(c)
    assert c.get(f"/kiosk/{token}/next").status_code == 204  # nothing handed over yet
    screen = c.get(f"/kiosk/{token}").get_data(as_text=True)
    assert "Welcome" in screen and "Jo" not in screen and "Sam" not in screen
    assert c.get("/kiosk/not-a-tablet").status_code == 404

    desk = staff_headers("frontdesk")
    listed = c.get("/api/kiosks", headers=desk).json
    assert [t["name"] for t in listed] == ["Waiting room tablet"] and "url" not in listed[0]
    # no consent to messages is needed in the room; no email or text goes out for it
    started = c.post("/api/clients/c-jo/questionnaires", json={"kiosk_id": tablet_id}, headers=desk)
    assert started.status_code == 201 and started.json["trigger"] == "manual" and started.json["on_tablet"]
    with runtime.sessions() as s:
        issued = s.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.event_type == events.QUESTIONNAIRE_ISSUED.type)
        ).one()
        assert json.loads(issued)["data"]["delivery"] == "kiosk"
        assert s.get(KioskDevice, tablet_id).pending_link.startswith("fernet:")  # sealed while it waits

    handed = c.get(f"/kiosk/{token}/next")
    assert handed.status_code == 200 and handed.json["url"].endswith(f"?k={token}")
    assert c.get(f"/kiosk/{token}/next").status_code == 204  # once
    form = c.get(handed.json["url"]).get_data(as_text=True)
    assert f'data-kiosk-home="/kiosk/{token}"' in form and "kiosk.js" in form
    plain = c.get(handed.json["url"].split("?")[0]).get_data(as_text=True)
    assert "data-kiosk-home" not in plain  # without the tablet's own link it is an ordinary form

    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    answers = {f"phq9.{k}": str(v) for k, v in phq9(12, item9=1).items()}
    thanks = c.post(handed.json["url"], data={"csrf": csrf, **answers}).get_data(as_text=True)
    assert "Please read this now" in thanks and 'id="kiosk-done"' in thanks  # crisis text, then back by hand
    assert "data-kiosk-return-after" not in thanks
    with runtime.sessions() as s:
        alert = s.scalar(select(Alert).where(Alert.client_id == "c-jo"))
        assert alert.rule == "risk_item" and alert.severity == "urgent"  # exactly as for an emailed form
        assert s.scalar(select(Assignment).where(Assignment.client_id == "c-jo")).status == "completed"


def test_starting_one_to_send_and_who_may(fb):
    c, runtime = fb
    ada, lin = staff_headers("clinician", "k-ada"), staff_headers("clinician", "k-lin")
    assert c.post("/api/clients/c-sam/questionnaires", json={}, headers=ada).status_code == 404  # not hers
    sent = c.post("/api/clients/c-sam/questionnaires", json={"measures": ["gad7"]}, headers=lin)
    assert sent.status_code == 201 and sent.json["status"] == "open" and not sent.json["on_tablet"]
    refused = c.post("/api/clients/c-jo/questionnaires", json={}, headers=ada)  # no consent to email or text
    assert refused.status_code == 201 and refused.json["status"] == "no_consent"
    assert c.post("/api/clients/c-jo/questionnaires", json={"measures": ["nope"]}, headers=ada).status_code == 422
    assert c.post("/api/clients/c-jo/questionnaires", json={"kiosk_id": "x"}, headers=ada).status_code == 404
    with runtime.sessions() as s:
        issued = s.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.event_type == events.QUESTIONNAIRE_ISSUED.type)
        ).all()
    assert [json.loads(p)["data"]["delivery"] for p in issued] == ["message"]
    assert [json.loads(p)["data"]["measures"] for p in issued] == [["gad7"]]


def test_a_handed_over_form_not_picked_up_in_ten_minutes_is_not_shown(fb):
    _, runtime = fb
    now = utcnow()
    with transaction(runtime.sessions) as s:
        device, _ = kiosk.register(s, "Room 2 tablet", "test", now)
        device.pending_link = __import__("shared.sealed", fromlist=["seal"]).seal(runtime.settings.link_key, "t")
        device.pending_at = now
        assert kiosk.take(s, device, runtime.settings.link_key, now + kiosk.PICKUP + timedelta(seconds=1)) is None
        assert device.pending_link is None


def test_the_clinician_starts_it_from_the_client_page(tmp_path):
    from tests.support.apps import make_app

    fb = make_app("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    with transaction(fb.runtime.sessions) as s:
        s.add(ClientRecord(id="c-jo", preferred_name="Jo", clinician_id="k-ada", episode_id="e1", consent_email=True))
        tablet, token = kiosk.register(s, "Room 2 tablet", "test", utcnow())
        tablet_id = tablet.id
    page = fb.sign_in("clinician", "k-ada")
    html = page.get("/dashboard/clients/c-jo").get_data(as_text=True)
    assert "Start questionnaire" in html and "On Room 2 tablet" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    done = page.post("/dashboard/clients/c-jo/questionnaires", data={"csrf": csrf, "kiosk_id": tablet_id})
    assert done.status_code == 303 and "started=tablet" in done.headers["Location"]
    shown = page.get(done.headers["Location"]).get_data(as_text=True)
    assert "Ready on the tablet: hand it to Jo." in shown
    sent = page.post("/dashboard/clients/c-jo/questionnaires", data={"csrf": csrf, "kiosk_id": ""})
    assert "started=sent" in sent.headers["Location"]
    assert page.post("/dashboard/clients/c-jo/questionnaires", data={"kiosk_id": ""}).status_code in (400, 403)
    fb.close()
