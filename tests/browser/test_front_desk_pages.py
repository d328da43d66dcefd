"""The front desk in real Chromium: register, book, move, cancel and complete through the pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from services.scheduling.cli import create_practice
from services.scheduling.models import Appointment
from shared.db import transaction
from shared.messaging.tables import OutboxMessage
from tests.support.apps import staff_headers
from tests.support.live import serve, signed_in_page

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def desk(tmp_path, browser):
    runtime, server = serve("scheduling", f"sqlite:///{tmp_path / 's.db'}")
    with transaction(runtime.sessions) as s:
        create_practice(s)
    requests.post(
        f"{server.url}/api/clinicians",
        headers=staff_headers("frontdesk"),
        json={
            "name": "Dr Ada Okafor",
            "email": "ada@p.example",
            "timezone": "Europe/London",
            "working_hours": {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        },
    )
    page = signed_in_page(browser, server, "frontdesk", None, "/desk/day", viewport=(1366, 900))
    yield page, server, runtime
    page.context.close()
    server.stop()


def test_book_move_cancel_and_complete_through_the_pages(desk, tmp_path):
    page, server, runtime = desk
    assert page.get_by_role("heading", name="Dr Ada Okafor").is_visible()

    # Register a client, with a validation error first.
    page.get_by_role("link", name="Clients").click()
    page.get_by_label("Email", exact=True).fill("not-an-email")
    page.get_by_role("button", name="Register").click()
    assert page.locator(".has-error").count() == 2  # legal name missing, email invalid
    page.get_by_label("Legal name (required)").fill("Joanna Bloggs")
    page.get_by_label("Preferred name").fill("Jo")
    page.get_by_label("Email", exact=True).fill("jo@example.org")
    page.get_by_label("The client agrees to receive questionnaires by email").check()
    page.get_by_role("button", name="Register").click()
    assert "is registered" in page.get_by_role("status").inner_text()

    # Book tomorrow at 10:00, keyboard-style: labelled fields only.
    tomorrow = (datetime.now(LONDON) + timedelta(days=1)).date()
    page.get_by_label("Date", exact=True).fill(tomorrow.isoformat())
    page.get_by_label("Start", exact=True).fill("10:00")
    page.get_by_role("button", name="Book").click()
    assert page.locator("#status").inner_text().startswith("booked")
    assert "10:00" in page.locator("#when").inner_text()
    page.screenshot(path=str(tmp_path / "appointment.png"), full_page=True)

    # Move it to 14:30 the same day.
    page.get_by_label("New start").fill("14:30")
    page.get_by_role("button", name="Move").click()
    assert page.get_by_role("status").inner_text() == "Moved."
    assert "14:30" in page.locator("#when").inner_text()
    assert "rescheduled (was" in page.locator(".history").inner_text()

    # Cancel it (by the client, with a reason): late, since it is within 24 hours or close to it.
    page.get_by_label("The client", exact=True).check()
    page.get_by_label("Reason", exact=True).fill("unwell")
    page.get_by_role("button", name="Cancel appointment").click()
    assert page.locator("#status").inner_text().startswith("cancelled, by the client")

    # The day view shows it struck through; a clash is refused with a reason.
    page.goto(f"{server.url}/desk/day?date={tomorrow.isoformat()}")
    assert page.locator(".appt.status-cancelled").count() == 1

    # Book one that has just ended (override) and complete it.
    earlier = datetime.now(LONDON) - timedelta(hours=2)
    earlier = earlier.replace(minute=earlier.minute - earlier.minute % 5)  # the time field steps by 5 minutes
    page.get_by_role("link", name="Book").click()
    page.get_by_label("Date", exact=True).fill(earlier.date().isoformat())
    page.get_by_label("Start", exact=True).fill(earlier.strftime("%H:%M"))
    page.get_by_label("Override reason").fill("entered after the session")
    page.get_by_role("button", name="Book").click()
    assert page.locator("#status").count() == 1, page.locator(".flash").all_inner_texts()
    page.get_by_role("button", name="Complete").click()
    assert page.locator("#status").inner_text() == "completed"
    assert "Session" in page.locator("dl.facts").inner_text()

    with runtime.sessions() as s:
        statuses = sorted(s.scalars(select(Appointment.status)).all())
        events = s.scalars(select(OutboxMessage.event_type)).all()
    assert statuses == ["cancelled", "completed"]
    assert events.count("attune.scheduling.session.completed") == 1
    assert events.count("attune.scheduling.appointment.rescheduled") == 1


def test_recurring_booking_shows_the_conflict_report(desk):
    page, server, runtime = desk
    page.goto(f"{server.url}/desk/clients")
    page.get_by_label("Legal name (required)").fill("Sam Lee")
    page.get_by_role("button", name="Register").click()
    start = (datetime.now(LONDON) + timedelta(days=2)).date()
    page.get_by_label("Date", exact=True).fill(start.isoformat())
    page.get_by_label("Start", exact=True).fill("11:00")
    page.get_by_role("button", name="Book").click()  # a single appointment in week 1

    page.get_by_role("link", name="Book").click()
    page.get_by_label("Date", exact=True).fill((start - timedelta(weeks=1)).isoformat())
    page.get_by_label("Start", exact=True).fill("11:00")
    page.get_by_label("Repeats").select_option("weekly")
    page.get_by_label("How many times").fill("4")
    page.get_by_role("button", name="Book").click()
    assert "1 of 4 occurrences cannot be booked" in page.get_by_role("alert").inner_text()
    assert page.locator(".report tr.clash").count() == 1

    page.get_by_label("If some clash").select_option("book_rest")
    page.get_by_role("button", name="Book").click()
    assert "Booked 3 appointments; 1 skipped." in page.get_by_role("status").inner_text()
