"""Recurring series through the API: conflict reports, book-the-rest, and edits of each scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from services.scheduling.models import Appointment, Series
from shared.db import utcnow
from tests.support.apps import make_scheduling

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def api(db_url):
    made = make_scheduling(db_url)
    runtime, c, h = made.runtime, made.app.test_client(), made.headers()
    clinician = c.post(
        "/api/clinicians",
        headers=h,
        json={
            "name": "Dr A",
            "email": "a@p.example",
            "timezone": "Europe/London",
            "working_hours": {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        },
    ).json
    client = c.post("/api/clients", headers=h, json={"legal_name": "Jo Bloggs"}).json
    yield c, h, clinician, client, runtime
    runtime.engine.dispose()


def next_tuesday_10() -> datetime:
    today = utcnow().astimezone(LONDON).date()
    days = (1 - today.weekday()) % 7 or 7
    return datetime.combine(today + timedelta(days=days), datetime.min.time(), LONDON).replace(hour=10)


def series_body(clinician, client, start, **extra):
    return {
        "client_id": client["id"],
        "clinician_id": clinician["id"],
        "type_id": "individual",
        "starts_at": start.isoformat(),
        "rule": {"freq": "weekly", "count": 6},
        **extra,
    }


def local(appointment):
    return datetime.fromisoformat(appointment["starts_at"]).astimezone(LONDON)


def test_conflicts_are_reported_per_occurrence_and_nothing_or_the_rest_is_booked(api):
    c, h, clinician, client, runtime = api
    start = next_tuesday_10()
    other = c.post("/api/clients", headers=h, json={"legal_name": "Someone Else"}).json
    blocker = c.post(
        "/api/appointments",
        headers=h,
        json={
            "client_id": other["id"],
            "clinician_id": clinician["id"],
            "type_id": "individual",
            "starts_at": (start + timedelta(weeks=2)).isoformat(),
        },
    )
    assert blocker.status_code == 201

    preview = c.post("/api/series/preview", headers=h, json=series_body(clinician, client, start)).json
    assert [o["ok"] for o in preview] == [True, True, False, True, True, True]
    assert preview[2]["conflicts"][0]["with"] == "clinician"

    refused = c.post("/api/series", headers=h, json=series_body(clinician, client, start))
    assert refused.status_code == 409 and len(refused.json["occurrences"]) == 6
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Series)) == 0
        assert s.scalar(select(func.count()).select_from(Appointment)) == 1

    booked = c.post("/api/series", headers=h, json=series_body(clinician, client, start, on_conflict="book_rest"))
    assert booked.status_code == 201
    assert len(booked.json["booked"]) == 5 and len(booked.json["skipped"]) == 1
    assert {local(a).strftime("%a %H:%M") for a in booked.json["booked"]} == {"Tue 10:00"}


def test_this_and_following_splits_the_series_and_keeps_local_time(api):
    c, h, clinician, client, runtime = api
    made = c.post("/api/series", headers=h, json=series_body(clinician, client, next_tuesday_10())).json
    occurrences = made["booked"]
    third = occurrences[2]
    moved = c.post(
        f"/api/appointments/{third['id']}/series/reschedule",
        headers=h,
        json={"scope": "this_and_following", "starts_at": (local(third) + timedelta(hours=1)).isoformat()},
    )
    assert moved.status_code == 200, moved.json
    assert [local(a).strftime("%H:%M") for a in moved.json] == ["11:00"] * 4
    after = [c.get(f"/api/appointments/{a['id']}", headers=h).json for a in occurrences]
    assert [local(a).strftime("%H:%M") for a in after] == ["10:00", "10:00"] + ["11:00"] * 4
    assert after[0]["series_id"] == made["series_id"] and after[2]["series_id"] != made["series_id"]
    assert all(a["id"] == b["id"] for a, b in zip(after, occurrences, strict=True))  # identities kept
    with runtime.sessions() as s:
        original = s.get(Series, made["series_id"])
        assert original.rule["until"] is not None and original.rule["count"] is None


def test_this_occurrence_only_and_cancel_all_future(api):
    c, h, clinician, client, _ = api
    made = c.post("/api/series", headers=h, json=series_body(clinician, client, next_tuesday_10())).json
    first, second = made["booked"][0], made["booked"][1]
    one = c.post(
        f"/api/appointments/{second['id']}/series/reschedule",
        headers=h,
        json={"scope": "this", "starts_at": (local(second) + timedelta(days=1)).isoformat()},
    )
    assert one.status_code == 200 and local(one.json[0]).strftime("%a %H:%M") == "Wed 10:00"
    assert local(c.get(f"/api/appointments/{made['booked'][2]['id']}", headers=h).json).strftime("%a") == "Tue"

    gone = c.post(
        f"/api/appointments/{first['id']}/series/cancel", headers=h, json={"scope": "all", "cancelled_by": "client"}
    )
    assert gone.status_code == 200 and len(gone.json) == 6
    assert all(a["status"] == "cancelled" for a in gone.json)


def test_edits_never_rewrite_the_past(api):
    c, h, clinician, client, _ = api
    start = datetime.now(LONDON).replace(microsecond=0) - timedelta(days=14, hours=1)
    made = c.post(
        "/api/series",
        headers=h,
        json=series_body(clinician, client, start, override_reason="series started before it was entered"),
    ).json
    past = made["booked"][0]
    assert c.post(f"/api/appointments/{past['id']}/complete", headers=h).status_code == 200
    future = made["booked"][3]
    everything = c.post(
        f"/api/appointments/{future['id']}/series/cancel", headers=h, json={"scope": "all", "cancelled_by": "practice"}
    ).json
    assert {a["id"] for a in everything} == {a["id"] for a in made["booked"][3:]}
    assert c.get(f"/api/appointments/{past['id']}", headers=h).json["status"] == "completed"


def test_a_series_edit_that_conflicts_changes_nothing(api):
    c, h, clinician, client, _ = api
    start = next_tuesday_10()
    made = c.post("/api/series", headers=h, json=series_body(clinician, client, start)).json
    other = c.post("/api/clients", headers=h, json={"legal_name": "Someone Else"}).json
    c.post(
        "/api/appointments",
        headers=h,
        json={
            "client_id": other["id"],
            "clinician_id": clinician["id"],
            "type_id": "individual",
            "starts_at": (start + timedelta(weeks=4, hours=2)).isoformat(),
        },
    )
    refused = c.post(
        f"/api/appointments/{made['booked'][0]['id']}/series/reschedule",
        headers=h,
        json={"scope": "all", "starts_at": (start + timedelta(hours=2)).isoformat()},
    )
    assert refused.status_code == 409
    assert [o["ok"] for o in refused.json["occurrences"]].count(False) == 1
    assert local(c.get(f"/api/appointments/{made['booked'][4]['id']}", headers=h).json).hour == 10


def test_invalid_rules_are_422_with_field_messages(api):
    c, h, clinician, client, _ = api
    bad = c.post(
        "/api/series", headers=h, json={**series_body(clinician, client, next_tuesday_10()), "rule": {"freq": "daily"}}
    )
    assert bad.status_code == 422 and {"rule"} <= set(bad.json["errors"])


def test_availability_honours_hours_time_off_appointments_and_rooms(api):
    c, h, clinician, client, _ = api
    day = next_tuesday_10().replace(hour=0)
    c.post(
        f"/api/clinicians/{clinician['id']}/time-off",
        headers=h,
        json={"starts_at": day.replace(hour=8).isoformat(), "ends_at": day.replace(hour=12).isoformat()},
    )
    c.post(
        "/api/appointments",
        headers=h,
        json={
            "client_id": client["id"],
            "clinician_id": clinician["id"],
            "type_id": "individual",
            "starts_at": day.replace(hour=13).isoformat(),
        },
    )
    room = c.post("/api/rooms", headers=h, json={"name": "Room 9"}).json
    other = c.post(
        "/api/clinicians",
        headers=h,
        json={"name": "Dr B", "email": "b@p.example", "working_hours": {"tue": [["08:00", "18:00"]]}},
    ).json
    someone = c.post("/api/clients", headers=h, json={"legal_name": "Someone Else"}).json
    c.post(
        "/api/appointments",
        headers=h,
        json={
            "client_id": someone["id"],
            "clinician_id": other["id"],
            "type_id": "individual",
            "room_id": room["id"],
            "starts_at": day.replace(hour=15).isoformat(),
        },
    )
    r = c.get(
        "/api/availability",
        headers=h,
        query_string={
            "clinician_id": clinician["id"],
            "type_id": "individual",
            "from": day.isoformat(),
            "to": (day + timedelta(days=1)).isoformat(),
            "room_id": room["id"],
            "step_minutes": 60,
        },
    )
    assert r.status_code == 200
    [mine] = r.json
    starts = [local(s).strftime("%H:%M") for s in mine["slots"]]
    assert starts == ["12:00", "14:00", "16:00", "17:00"]  # 8-12 off, 13:00 booked, 15:00 the room is taken
    too_long = c.get(
        "/api/availability",
        headers=h,
        query_string={"type_id": "individual", "from": day.isoformat(), "to": (day + timedelta(days=40)).isoformat()},
    )
    assert too_long.status_code == 409 and "31 days" in too_long.json["detail"]
