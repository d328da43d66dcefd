"""A video session's link, end to end in real Chromium: the front desk books it with the link, the client's
confirmation email shows it and its calendar entry carries it (RFC 7986 CONFERENCE), and a new link sent from
the appointment page reaches the client as a change."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from icalendar import Calendar

from tests.support import identity
from tests.support.live import signed_in_page
from tests.support.stack import Stack

LONDON = ZoneInfo("Europe/London")
FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"
VIDEO, NEW_VIDEO = "https://video.example.org/join/room-4711?pwd=k3y", "https://video.example.org/join/room-9000"


@pytest.fixture
def video_stack(kafka_bootstrap, kafka_namespace, sqlite_urls, mail):
    stack = Stack(sqlite_urls, kafka_bootstrap, mail.port, settings={"notifications": {"grace_minutes": 0}})
    h = stack.headers()
    requests.post(
        stack.url("scheduling", "/api/appointment-types"),
        headers=h,
        json={"id": "video", "name": "Individual therapy (video)", "minutes": 50, "modality": "telehealth"},
    ).raise_for_status()
    clinician = requests.post(
        stack.url("scheduling", "/api/clinicians"),
        headers=h,
        json={
            "name": "Dr Ada Okafor",
            "email": "ada@p.example",
            "timezone": "Europe/London",
            "working_hours": {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        },
    ).json()
    requests.post(
        stack.url("scheduling", "/api/clients"),
        headers=h,
        json={"legal_name": "Joanna Bloggs", "preferred_name": "Jo", "email": "jo@example.org",
              "consent_email": True, "clinician_id": clinician["id"], "timezone": "Europe/London"},
    ).raise_for_status()  # fmt: skip
    identity.register_service("scheduling", stack.url("scheduling", ""))
    yield stack
    stack.close()


def _calendar(message) -> Calendar:
    [part] = [p for p in message.message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_content())


def test_the_video_link_in_the_confirmation_email_and_its_calendar_entry(video_stack, browser, mail):
    desk = signed_in_page(browser, video_stack.services["scheduling"].server, "frontdesk", None, "/desk/book")
    tomorrow = (datetime.now(LONDON) + timedelta(days=1)).date()
    desk.get_by_label("Type").select_option("video")
    desk.get_by_label("Date", exact=True).fill(tomorrow.isoformat())
    desk.get_by_label("Start", exact=True).fill("10:00")
    desk.get_by_label("Video link").fill("http://video.example.org/insecure")
    desk.get_by_role("button", name="Book").click()  # refused: the browser or the server wants https
    assert desk.locator("#status").count() == 0
    desk.get_by_label("Video link").fill(VIDEO)
    desk.get_by_role("button", name="Book").click()
    assert desk.locator("#status").inner_text().startswith("booked")
    assert desk.locator("#video-link a").get_attribute("href") == VIDEO

    [confirmation] = mail.wait_for(lambda m: m.subject == "Your appointment is booked")
    email = browser.new_page(viewport={"width": 390, "height": 700})  # as the client reads it on a phone
    email.set_content(confirmation.html())
    link = email.get_by_role("link", name="join the video call")
    assert link.get_attribute("href") == VIDEO and link.is_visible()
    email.screenshot(path=str(FIGURES / "video-link-confirmation.png"), full_page=True)
    email.close()
    [event] = _calendar(confirmation).walk("VEVENT")
    assert str(event["URL"]) == VIDEO and str(event["LOCATION"]) == VIDEO
    assert str(event["CONFERENCE"]) == VIDEO and event["CONFERENCE"].params["FEATURE"] == "VIDEO"

    desk.get_by_label("Link for this session").fill(NEW_VIDEO)
    desk.get_by_role("button", name="Save video link").click()
    assert desk.get_by_role("status").inner_text() == "Video link saved: the client is sent it."
    assert "video link changed" in desk.locator(".history").inner_text()
    [change] = mail.wait_for(lambda m: m.subject == "Your appointment has changed")
    assert NEW_VIDEO in change.text() and VIDEO not in change.text()
    [updated] = _calendar(change).walk("VEVENT")
    assert str(updated["URL"]) == NEW_VIDEO and updated["SEQUENCE"] == 1 and updated["UID"] == event["UID"]
    desk.context.close()
