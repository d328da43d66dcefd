"""Kiosk mode on a tablet-sized screen in real Chromium: the neutral screen, one client's form when staff hand
it over, the thank-you, and the lock back to the neutral screen (by "Done", and after 5 minutes idle)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from services.feedback.models import ClientRecord
from shared.db import transaction
from tests.support.accessibility import axe_violations
from tests.support.apps import staff_headers
from tests.support.live import public_feedback

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


@pytest.fixture
def practice(tmp_path):
    runtime, server = public_feedback(f"sqlite:///{tmp_path / 'f.db'}")
    with transaction(runtime.sessions) as s:
        s.add(ClientRecord(id="c-jo", preferred_name="Joanna", clinician_id="k1", episode_id="e1"))
        s.add(ClientRecord(id="c-sam", preferred_name="Samuel", clinician_id="k1", episode_id="e2"))
    made = requests.post(
        f"{server.url}/api/kiosks", json={"name": "Waiting room tablet"}, headers=staff_headers("admin")
    ).json()
    yield server, made
    server.stop()


@pytest.fixture
def tablet(browser):
    context = browser.new_context(viewport={"width": 820, "height": 1180}, has_touch=True)  # a 10-inch tablet
    page = context.new_page()
    yield page
    context.close()


def _hand_over(server, tablet_id: str, client_id: str) -> None:
    started = requests.post(
        f"{server.url}/api/clients/{client_id}/questionnaires",
        json={"kiosk_id": tablet_id, "measures": ["phq9"]},
        headers=staff_headers("frontdesk"),
    )
    assert started.status_code == 201, started.text


def test_the_tablet_shows_one_clients_form_then_locks_back(practice, tablet):
    server, made = practice
    tablet.clock.install()
    tablet.goto(made["url"])
    expect(tablet.get_by_role("heading", name="Welcome")).to_be_visible()
    assert "Joanna" not in tablet.content() and "Samuel" not in tablet.content()
    assert axe_violations(tablet) == []
    tablet.screenshot(path=str(FIGURES / "kiosk-waiting.png"))

    _hand_over(server, made["id"], "c-jo")
    tablet.clock.run_for(4000)  # the screen asks every 3 s
    expect(tablet.get_by_role("heading", name="Your check-in")).to_be_visible()
    assert "Samuel" not in tablet.content()  # only this client's form, and no other name
    for item in range(1, 10):
        tablet.locator(f"#phq9-{item}").get_by_label("Not at all").check()
    tablet.screenshot(path=str(FIGURES / "kiosk-form.png"), full_page=True)
    tablet.get_by_role("button", name="Send my answers").click()
    expect(tablet.get_by_role("heading", name="Thank you")).to_be_visible()
    assert "Please hand the tablet back" in tablet.content()
    tablet.get_by_role("link", name="Done").click()
    expect(tablet.get_by_role("heading", name="Welcome")).to_be_visible()

    # the next client's form, left untouched: after 5 minutes the tablet locks back by itself
    _hand_over(server, made["id"], "c-sam")
    tablet.clock.run_for(4000)
    expect(tablet.get_by_role("heading", name="Your check-in")).to_be_visible()
    tablet.locator("#phq9-1").get_by_label("Several days").check()  # a touch restarts the idle timer
    tablet.clock.run_for(4 * 60 * 1000)
    expect(tablet.get_by_role("heading", name="Your check-in")).to_be_visible()
    tablet.clock.run_for(61 * 1000 + 100)
    expect(tablet.get_by_role("heading", name="Welcome")).to_be_visible()
    assert "Samuel" not in tablet.content() and "Several days" not in tablet.content()
