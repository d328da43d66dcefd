"""The confirm / cancel links of an appointment reminder, signed by notifications and honoured by scheduling."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from services.notifications.scheduled import reminder_link, unsubscribe_link
from services.notifications.settings import NotificationsSettings
from shared.db import transaction
from shared.messaging.tables import OutboxMessage
from tests.support import identity
from tests.support.apps import make_scheduling, service_runtime, staff_headers


@pytest.fixture
def desk(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    runtime, client, h = made.runtime, made.app.test_client(), made.headers()
    clinician = client.post("/api/clinicians", headers=h, json={"name": "Dr A", "email": "a@p.example"}).json
    person = client.post("/api/clients", headers=h, json={"legal_name": "Jo Bloggs", "email": "jo@example.org"}).json

    def book(starts_in: timedelta):
        start = (datetime.now(UTC) + starts_in).replace(microsecond=0)
        return client.post(
            "/api/appointments",
            headers=h,
            json={
                "client_id": person["id"],
                "clinician_id": clinician["id"],
                "type_id": "individual",
                "starts_at": start.isoformat(),
                "override_reason": "test",
            },
        ).json

    return SimpleNamespace(client=client, headers=h, book=book, runtime=runtime)


def _path(appt: dict, action: str) -> str:
    fake = SimpleNamespace(id=appt["id"], starts_at=datetime.fromisoformat(appt["starts_at"]))
    return re.sub(r"^https?://[^/]+", "", reminder_link(NotificationsSettings(), fake, action))


def test_confirm_is_a_button_not_a_click_on_the_link(desk):
    appt = desk.book(timedelta(days=3))
    page = desk.client.get(_path(appt, "confirm"))
    assert page.status_code == 200 and b"Yes, I am coming" in page.data
    assert (
        desk.client.get(f"/api/appointments/{appt['id']}", headers=desk.headers).json["confirmation"] == "unconfirmed"
    )
    done = desk.client.post(_path(appt, "confirm"))
    assert done.status_code == 200 and b"see you on" in done.data
    assert desk.client.get(f"/api/appointments/{appt['id']}", headers=desk.headers).json["confirmation"] == "confirmed"
    with desk.runtime.sessions() as s:
        types = s.scalars(select(OutboxMessage.event_type)).all()
    assert types.count("attune.scheduling.appointment.confirmation_changed") == 1
    desk.client.post(_path(appt, "confirm"))  # twice: no second event
    with desk.runtime.sessions() as s:
        assert (
            s.scalars(select(OutboxMessage.event_type))
            .all()
            .count("attune.scheduling.appointment.confirmation_changed")
            == 1
        )


def test_cancel_outside_the_late_window(desk):
    appt = desk.book(timedelta(days=3))
    assert desk.client.post(_path(appt, "cancel")).status_code == 200
    body = desk.client.get(f"/api/appointments/{appt['id']}", headers=desk.headers).json
    assert body["status"] == "cancelled" and body["cancelled_by"] == "client" and body["late_cancel"] is False


def test_inside_the_late_window_the_page_explains_and_records_i_cannot_come(desk):
    appt = desk.book(timedelta(hours=5))
    page = desk.client.get(_path(appt, "cancel"))
    assert page.status_code == 200 and b"cancellation policy" in page.data and b"I can't come" in page.data
    done = desk.client.post(_path(appt, "cancel"))
    assert done.status_code == 200 and b"They will phone you" in done.data
    body = desk.client.get(f"/api/appointments/{appt['id']}", headers=desk.headers).json
    assert body["status"] == "booked" and body["confirmation"] == "declined"  # kept, and the desk can see it
    from services.scheduling.models import AppointmentChange

    with desk.runtime.sessions() as s:
        actions = s.scalars(select(AppointmentChange.action).where(AppointmentChange.appointment_id == appt["id"]))
        assert "client_declined" in actions.all()


def test_at_the_default_settings_every_reminder_is_sent_outside_the_late_window():
    """So the reminder's "I need to cancel" link cancels, instead of always landing on "please phone"."""
    from services.scheduling.settings import SchedulingSettings

    notifications, scheduling = NotificationsSettings(), SchedulingSettings()
    assert min(notifications.reminder_offsets_hours) > scheduling.late_cancel_hours
    assert min(notifications.reminder_offsets_hours) > notifications.late_cancel_hours


def test_a_link_for_a_moved_appointment_or_a_forged_one_does_nothing(desk):
    appt = desk.book(timedelta(days=3))
    stale = _path(appt, "cancel")
    moved = datetime.fromisoformat(appt["starts_at"]) + timedelta(days=1)
    assert (
        desk.client.post(
            f"/api/appointments/{appt['id']}/reschedule",
            headers=desk.headers,
            json={"starts_at": moved.isoformat(), "override_reason": "test"},
        ).status_code
        == 200
    )
    assert desk.client.post(stale).status_code == 410
    assert desk.client.post(stale[:-3] + "abc").status_code == 404
    assert desk.client.get(f"/api/appointments/{appt['id']}", headers=desk.headers).json["status"] == "booked"


def test_unsubscribe_and_the_delivery_log_roles(tmp_path):
    from services.notifications import create_app as notifications_app
    from services.notifications.models import Contact

    runtime = service_runtime("notifications", f"sqlite:///{tmp_path / 'n.db'}")
    with transaction(runtime.sessions) as s:
        s.add(Contact(id="c1", kind="client", email="jo@example.org", display_name="Jo", timezone="UTC"))
    app = notifications_app(runtime.settings, runtime)
    web = app.test_client()
    path = re.sub(r"^https?://[^/]+", "", unsubscribe_link(NotificationsSettings(), SimpleNamespace(id="c1")))
    assert b"Stop reminders" in web.get(path).data
    assert web.post(path).status_code == 200
    with runtime.sessions() as s:
        assert s.get(Contact, "c1").opted_out is True

    as_role = {r: staff_headers(r) for r in ("clinician", "frontdesk")}
    assert web.get("/api/deliveries").status_code == 401
    assert web.get("/api/deliveries", headers=as_role["clinician"]).status_code == 403
    log = web.get("/api/deliveries", headers=as_role["frontdesk"])
    assert log.status_code == 200 and log.json["total"] == 0
    assert web.get("/admin/deliveries").status_code == 302  # pages send the browser to sign in
    identity.sign_in(web, "frontdesk")
    assert web.get("/admin/deliveries").status_code == 200
