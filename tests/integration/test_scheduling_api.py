"""Every scheduling endpoint, with its error cases. Bad input writes nothing (no row, no event)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from services.scheduling.models import Appointment, Client, Clinician
from shared.messaging.tables import OutboxMessage
from tests.support.apps import make_scheduling


class Api:
    def __init__(self, db_url):
        made = make_scheduling(db_url)
        self.runtime, self.app = made.runtime, made.app
        self.c = self.app.test_client()
        self.desk, self.clinician_h = made.headers(), made.headers("clinician", "k")

    def post(self, path, json=None, headers=None, **kw):
        return self.c.post(path, json=json, headers={**self.desk, **(headers or {})}, **kw)

    def get(self, path, **kw):
        return self.c.get(path, headers=self.desk, **kw)

    def patch(self, path, json):
        return self.c.patch(path, json=json, headers=self.desk)

    def counts(self):
        with self.runtime.sessions() as s:
            return tuple(
                s.scalar(select(func.count()).select_from(m)) for m in (Client, Clinician, Appointment, OutboxMessage)
            )


@pytest.fixture
def api(db_url):
    a = Api(db_url)
    yield a
    a.runtime.engine.dispose()


def setup_people(api):
    clinician = api.post(
        "/api/clinicians", {"name": "Dr A", "email": "a@p.example", "working_hours": {"mon": [["09:00", "17:00"]]}}
    ).json
    client = api.post(
        "/api/clients",
        {"legal_name": "Jo Bloggs", "email": "jo@example.org", "consent_email": True, "clinician_id": clinician["id"]},
    ).json
    return clinician, client


def future(days=3, hour=10):
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def book(api, clinician, client, start, **extra):
    return api.post(
        "/api/appointments",
        {
            "client_id": client["id"],
            "clinician_id": clinician["id"],
            "type_id": "individual",
            "starts_at": start.isoformat(),
            "override_reason": "test",
            **extra,
        },
    )


def test_auth_is_required_and_roles_are_checked(api):
    assert api.c.get("/api/clients").status_code == 401
    bad = api.c.get("/api/clients", headers={"Authorization": "Bearer forged"})
    assert bad.status_code == 401 and bad.content_type == "application/problem+json"
    assert api.c.get("/api/clients", headers=api.clinician_h).status_code == 200  # clinicians may read
    before = api.counts()
    refused = api.c.post("/api/clients", json={"legal_name": "X"}, headers=api.clinician_h)
    assert refused.status_code == 403 and api.counts() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/clinicians", {"name": "", "email": "a@p.example"}, "name"),
        ("/api/clinicians", {"name": "A", "email": "nope"}, "email"),
        ("/api/clinicians", {"name": "A", "email": "a@p.example", "timezone": "Mars/Olympus"}, "timezone"),
        (
            "/api/clinicians",
            {"name": "A", "email": "a@p.example", "working_hours": {"mon": [["17:00", "09:00"]]}},
            "working_hours",
        ),
        ("/api/clients", {"legal_name": "Jo", "consent_email": True}, "consent_email"),
        ("/api/clients", {"legal_name": "Jo", "date_of_birth": "31/12/1990"}, "date_of_birth"),
        ("/api/clients", {"legal_name": "Jo", "unknown": 1}, "unknown"),
        (
            "/api/appointments",
            {"client_id": "x", "clinician_id": "y", "type_id": "individual", "starts_at": "2026-01-01T10:00:00"},
            "starts_at",
        ),  # no offset
        ("/api/rooms", {}, "name"),
        ("/api/appointment-types", {"id": "Bad Id", "name": "x", "minutes": 50}, "id"),
    ],
)
def test_invalid_input_is_422_with_field_messages_and_writes_nothing(api, path, body, field):
    before = api.counts()
    r = api.post(path, body)
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert field in r.json["errors"]
    assert api.counts() == before


def test_clinicians_crud_time_off_and_duplicates(api):
    created = api.post("/api/clinicians", {"name": "Dr A", "email": "a@p.example"})
    assert created.status_code == 201 and created.headers["Location"].endswith(created.json["id"])
    assert api.post("/api/clinicians", {"name": "Dr A2", "email": "a@p.example"}).status_code == 409
    cid = created.json["id"]
    assert api.get(f"/api/clinicians/{cid}").json["name"] == "Dr A"
    assert api.get("/api/clinicians/nope").status_code == 404
    patched = api.patch(f"/api/clinicians/{cid}", {"accepting_new_clients": False})
    assert patched.status_code == 200 and patched.json["accepting_new_clients"] is False
    assert len(api.get("/api/clinicians").json) == 1
    off = api.post(
        f"/api/clinicians/{cid}/time-off", {"starts_at": future().isoformat(), "ends_at": future(hour=12).isoformat()}
    )
    assert off.status_code == 201 and len(api.get(f"/api/clinicians/{cid}/time-off").json) == 1
    assert (
        api.post(
            f"/api/clinicians/{cid}/time-off",
            {"starts_at": future(hour=12).isoformat(), "ends_at": future().isoformat()},
        ).status_code
        == 422
    )
    assert api.post("/api/clients", {"legal_name": "Jo", "clinician_id": cid}).status_code == 409  # not accepting


def test_clients_search_pagination_update_discharge_and_readmit(api):
    clinician, client = setup_people(api)
    for i in range(3):
        api.post("/api/clients", {"legal_name": f"Alex Example {i}"})
    page = api.get("/api/clients", query_string={"q": "alex", "page_size": 2}).json
    assert page["total"] == 3 and len(page["items"]) == 2
    assert api.get("/api/clients", query_string={"page_size": 0}).status_code == 422
    updated = api.patch(f"/api/clients/{client['id']}", {"consent_email": False, "phone": "+44 20 7946 0000"})
    assert updated.json["consent_email"] is False and updated.json["consent_email_at"] is not None
    assert api.post(f"/api/clients/{client['id']}/discharge").json["status"] == "discharged"
    assert api.post(f"/api/clients/{client['id']}/discharge").status_code == 409
    refused = book(api, clinician, client, future())
    assert refused.status_code == 409 and "discharged" in refused.json["detail"]
    assert api.patch(f"/api/clients/{client['id']}", {"status": "active"}).json["status"] == "active"
    with api.runtime.sessions() as s:
        names = s.scalars(select(OutboxMessage.event_type).where(OutboxMessage.key == client["id"])).all()
    assert names == [
        "attune.scheduling.client.registered",
        "attune.scheduling.client.updated",
        "attune.scheduling.client.discharged",
        "attune.scheduling.client.updated",
    ]


def test_rooms_and_types(api):
    assert api.post("/api/rooms", {"name": "Blue"}).status_code == 201
    assert {r["name"] for r in api.get("/api/rooms").json} >= {"Blue", "Room 1"}
    assert api.post("/api/appointment-types", {"id": "eft", "name": "EFT", "minutes": 60}).status_code == 201
    assert api.post("/api/appointment-types", {"id": "eft", "name": "EFT", "minutes": 60}).status_code == 409
    assert "eft" in {t["id"] for t in api.get("/api/appointment-types").json}


def test_booking_rules_errors_and_idempotency(api):
    clinician, client = setup_people(api)
    monday_11 = future(days=7 - datetime.now(UTC).weekday(), hour=11)  # next Monday, within 09-17 UTC hours
    plain = {
        "client_id": client["id"],
        "clinician_id": clinician["id"],
        "type_id": "individual",
        "starts_at": (monday_11 - timedelta(hours=4)).isoformat(),
    }
    outside = api.post("/api/appointments", plain)
    assert outside.status_code == 409 and "working hours" in outside.json["detail"]
    before = api.counts()
    assert api.post("/api/appointments", {**plain, "type_id": "nope"}).status_code == 404
    assert api.post("/api/appointments", {**plain, "client_id": "nope"}).status_code == 404
    assert api.counts() == before

    key = {"Idempotency-Key": "booking-123"}
    first = api.post("/api/appointments", {**plain, "starts_at": monday_11.isoformat()}, headers=key)
    again = api.post("/api/appointments", {**plain, "starts_at": monday_11.isoformat()}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["ETag"] == first.headers["ETag"]
    other = api.post(
        "/api/appointments", {**plain, "starts_at": (monday_11 + timedelta(hours=2)).isoformat()}, headers=key
    )
    assert other.status_code == 422  # the key was used for a different request
    with api.runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Appointment)) == 1

    listing = api.get(
        "/api/appointments",
        query_string={
            "clinician_id": clinician["id"],
            "from": monday_11.isoformat(),
            "to": (monday_11 + timedelta(days=1)).isoformat(),
        },
    )
    assert listing.json["total"] == 1


def test_lifecycle_etags_and_transitions(api):
    clinician, client = setup_people(api)
    appt = book(api, clinician, client, future()).json
    etag = api.get(f"/api/appointments/{appt['id']}").headers["ETag"]
    assert etag == '"v1"'
    moved = api.post(
        f"/api/appointments/{appt['id']}/reschedule",
        {"starts_at": future(hour=14).isoformat(), "override_reason": "test"},
        headers={"If-Match": etag},
    )
    assert moved.status_code == 200 and moved.headers["ETag"] == '"v2"'
    stale = api.post(f"/api/appointments/{appt['id']}/cancel", {"cancelled_by": "client"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json["current_version"] == 2
    assert api.post(f"/api/appointments/{appt['id']}/check-in").status_code == 409  # days away
    assert api.post(f"/api/appointments/{appt['id']}/complete").status_code == 409  # not started
    assert api.post(f"/api/appointments/{appt['id']}/no-show").status_code == 409
    assert api.post(f"/api/appointments/{appt['id']}/cancel", {"cancelled_by": "martians"}).status_code == 422
    cancelled = api.post(f"/api/appointments/{appt['id']}/cancel", {"cancelled_by": "clinician", "reason": "ill"})
    assert cancelled.json["status"] == "cancelled" and cancelled.json["late_cancel"] is False
    assert api.post(f"/api/appointments/{appt['id']}/complete").status_code == 409
    assert api.post("/api/appointments/nope/complete").status_code == 404

    late = book(api, clinician, client, datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)).json
    assert api.post(f"/api/appointments/{late['id']}/cancel", {"cancelled_by": "client"}).json["late_cancel"]

    now = datetime.now(UTC).replace(microsecond=0)
    current = book(api, clinician, client, now - timedelta(minutes=10)).json
    assert api.post(f"/api/appointments/{current['id']}/check-in").json["status"] == "checked_in"
    assert api.post(f"/api/appointments/{current['id']}/complete").json["session_number"] == 1
    missed = book(api, clinician, client, now - timedelta(hours=3)).json
    assert api.post(f"/api/appointments/{missed['id']}/no-show").json["status"] == "no_show"
    again = book(api, clinician, client, now - timedelta(hours=5)).json
    assert api.post(f"/api/appointments/{again['id']}/complete").json["session_number"] == 2


def test_calendar_feed_hides_names_and_bumps_sequence(api):
    clinician, client = setup_people(api)
    appt = book(api, clinician, client, future()).json
    gone = book(api, clinician, client, future(days=4)).json
    api.post(f"/api/appointments/{gone['id']}/cancel", {"cancelled_by": "client"})
    api.post(
        f"/api/appointments/{appt['id']}/reschedule",
        {"starts_at": future(hour=15).isoformat(), "override_reason": "test"},
    )
    feed_url = api.post(f"/api/clinicians/{clinician['id']}/calendar-token").json["feed_url"]
    feed = api.c.get(feed_url.replace("http://localhost", ""))
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    events = Calendar.from_ical(feed.data).walk("VEVENT")
    assert [str(e["UID"]).split("@")[0] for e in events] == [appt["id"]]  # the cancelled one is gone
    assert events[0]["SEQUENCE"] == 1
    assert b"Jo" not in feed.data and b"Bloggs" not in feed.data
    assert api.c.get("/calendar/wrong-token.ics").status_code == 404
    other = api.c.post(f"/api/clinicians/{clinician['id']}/calendar-token", headers=api.clinician_h)
    assert other.status_code == 403  # a clinician only rotates their own


def test_openapi_document_lists_every_endpoint(api):
    spec = api.c.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/appointments",
        "/api/series",
        "/api/availability",
        "/api/clients/{client_id}/discharge",
        "/api/appointments/{appointment_id}/series/reschedule",
        "/api/delivery-problems",
    ):
        assert path in spec["paths"]


def test_the_docs_page_lists_every_operation_without_outside_scripts(api):
    page = api.c.get("/docs")
    assert page.status_code == 200 and b"<script" not in page.data
    assert page.data.count(b"<section>") == sum(
        len([m for m in item if m in ("get", "post", "put", "patch", "delete")])
        for item in api.c.get("/openapi.json").json["paths"].values()
    )


def test_an_idempotency_key_never_replays_a_stored_answer_to_someone_not_signed_in(api):
    _, client = setup_people(api)
    key = {"Idempotency-Key": "discharge-1"}
    first = api.post(f"/api/clients/{client['id']}/discharge", headers=key)
    assert first.status_code == 200 and first.json["legal_name"] == "Jo Bloggs"
    anonymous = api.c.post(f"/api/clients/{client['id']}/discharge", headers=key)
    assert anonymous.status_code == 401 and "Jo Bloggs" not in anonymous.get_data(as_text=True)
    as_clinician = api.c.post(f"/api/clients/{client['id']}/discharge", headers={**api.clinician_h, **key})
    assert "Idempotent-Replayed" not in as_clinician.headers  # keys are scoped by principal


def test_a_clinician_can_have_a_supervisor_and_the_event_says_so(api):
    lead = api.post("/api/clinicians", {"name": "Dr Lead", "email": "lead@p.example"}).json
    ada = api.post("/api/clinicians", {"name": "Dr Ada", "email": "ada@p.example", "supervisor_id": lead["id"]})
    assert ada.status_code == 201 and ada.json["supervisor_id"] == lead["id"]
    assert api.patch(f"/api/clinicians/{lead['id']}", {"supervisor_id": lead["id"]}).status_code == 409
    assert api.patch(f"/api/clinicians/{lead['id']}", {"supervisor_id": "nobody"}).status_code == 404
    assert api.patch(f"/api/clinicians/{lead['id']}", {"supervisor_id": ada.json["id"]}).status_code == 200
    with api.runtime.sessions() as s:
        payloads = s.scalars(select(OutboxMessage.payload).where(OutboxMessage.key == ada.json["id"])).all()
    assert f'"supervisor_id":"{lead["id"]}"' in payloads[0]


def test_a_delivery_problem_can_be_marked_resolved_with_a_note(api):
    from services.scheduling.models import DeliveryProblem
    from shared.db import transaction

    _, client = setup_people(api)
    with transaction(api.runtime.sessions) as s:
        s.add(DeliveryProblem(id="d1", client_id=client["id"], template="questionnaire_invitation",
                              error="550 mailbox unavailable", failed_at=datetime.now(UTC)))  # fmt: skip
    assert [p["id"] for p in api.get(f"/api/delivery-problems?client_id={client['id']}").json] == ["d1"]
    refused = api.post("/api/delivery-problems/d1/resolve", json={"note": ""})
    assert refused.status_code == 422 and "note" in refused.json["errors"]
    done = api.post("/api/delivery-problems/d1/resolve", json={"note": "Address corrected by phone."})
    assert done.status_code == 200 and done.json["resolution_note"] == "Address corrected by phone."
    assert api.get(f"/api/delivery-problems?client_id={client['id']}").json == []  # no longer open
    closed = api.get(f"/api/delivery-problems?client_id={client['id']}&open=false").json
    assert closed[0]["resolved_at"] is not None
    assert api.post("/api/delivery-problems/nope/resolve", json={"note": "x y z"}).status_code == 404
    assert api.c.post("/api/delivery-problems/d1/resolve", json={"note": "abc"},
                      headers=api.clinician_h).status_code == 403  # fmt: skip


def test_a_video_link_travels_sealed_and_a_new_one_is_announced(api):
    from shared.sealed import unseal

    clinician, client = setup_people(api)
    link, new_link = "https://video.example.org/join/4711?pwd=abc", "https://video.example.org/join/9000"
    before = api.counts()
    insecure = book(api, clinician, client, future(), telehealth_url="http://video.example.org/join/1")
    assert insecure.status_code == 422 and "telehealth_url" in insecure.json["errors"]
    assert api.counts() == before
    appt = book(api, clinician, client, future(), modality="telehealth", telehealth_url=link).json
    path = f"/api/appointments/{appt['id']}/video-link"
    assert api.post(path, {"telehealth_url": "ftp://x.example/1"}).status_code == 422
    assert api.post(path, {}).status_code == 422  # say the link, or null to remove it
    changed = api.post(path, {"telehealth_url": new_link}, headers={"If-Match": f'"{appt["version"]}"'})
    assert changed.status_code == 200 and changed.json["telehealth_url"] == new_link
    stale = api.post(path, {"telehealth_url": link}, headers={"If-Match": f'"{appt["version"]}"'})
    assert stale.status_code == 412
    with api.runtime.sessions() as s:
        rows = s.execute(
            select(OutboxMessage.event_type, OutboxMessage.payload).where(OutboxMessage.key == client["id"])
        ).all()
    video = [(t, p) for t, p in rows if "appointment" in t]
    assert [t.rsplit(".", 1)[-1] for t, _ in video] == ["booked", "details_changed"]
    for (_, payload), expected in zip(video, (link, new_link), strict=True):
        assert "video.example.org" not in payload  # only sealed on the bus
        sealed_url = __import__("json").loads(payload)["data"]["sealed_telehealth_url"]
        assert unseal(api.runtime.settings.link_key, sealed_url) == expected
    api.post(f"/api/appointments/{appt['id']}/cancel", {"cancelled_by": "client"})
    refused = api.post(path, {"telehealth_url": link})
    assert refused.status_code == 409 and "booked" in refused.json["detail"]
