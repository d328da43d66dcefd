"""Parallel bookings of one slot: exactly one wins, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from services.scheduling.models import Appointment
from shared.messaging.tables import OutboxMessage
from tests.support.apps import make_scheduling

PARALLEL = 8


def _app(db_url):
    made = make_scheduling(db_url)
    return made.app, made.runtime, made.headers()


def test_parallel_bookings_of_one_slot_have_one_winner(db_url):
    app, runtime, headers = _app(db_url)
    c = app.test_client()
    clinician = c.post("/api/clinicians", headers=headers, json={"name": "Dr A", "email": "a@p.example"}).json
    clients = [
        c.post("/api/clients", headers=headers, json={"legal_name": f"Client {i}"}).json for i in range(PARALLEL)
    ]
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    barrier = threading.Barrier(PARALLEL)
    statuses: list[int] = []

    def book(client_id):
        barrier.wait()
        r = app.test_client().post(
            "/api/appointments",
            headers=headers,
            json={
                "client_id": client_id,
                "clinician_id": clinician["id"],
                "type_id": "individual",
                "starts_at": start.isoformat(),
                "override_reason": "outside hours: test",
            },
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=book, args=(cl["id"],)) for cl in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(statuses) == [201] + [409] * (PARALLEL - 1)
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Appointment)) == 1
        booked = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.event_type == "attune.scheduling.appointment.booked")
        )
        assert booked == 1  # losers wrote nothing, not even an event
    runtime.engine.dispose()


def test_the_same_client_cannot_be_in_two_places(db_url):
    app, runtime, headers = _app(db_url)
    c = app.test_client()
    a = c.post("/api/clinicians", headers=headers, json={"name": "Dr A", "email": "a@p.example"}).json
    b = c.post("/api/clinicians", headers=headers, json={"name": "Dr B", "email": "b@p.example"}).json
    client = c.post("/api/clients", headers=headers, json={"legal_name": "Jo Bloggs"}).json
    start = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    body = {"client_id": client["id"], "type_id": "individual", "starts_at": start, "override_reason": "test"}
    assert c.post("/api/appointments", headers=headers, json={**body, "clinician_id": a["id"]}).status_code == 201
    clash = c.post("/api/appointments", headers=headers, json={**body, "clinician_id": b["id"]})
    assert clash.status_code == 409 and clash.json["conflicts"][0]["with"] == "client"
    runtime.engine.dispose()
