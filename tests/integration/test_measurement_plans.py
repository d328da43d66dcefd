"""Measurement plans applied by the feedback handlers: intake baselines, every Nth session, minimum spacing,
per-client overrides, and skips that staff can see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.feedback import create_app
from services.feedback.handlers import handlers
from services.feedback.models import Assignment
from services.feedback.plans import Plan, due_after_session
from services.feedback.settings import FeedbackSettings
from shared.auth import issue_token
from shared.events.catalog import spec_named
from shared.events.envelope import Event
from tests.support.stack import service_runtime

NOW = datetime.now(UTC)


def test_due_after_session_rules():
    plan = Plan(["phq9"], ["phq9"], every_n_sessions=2, min_days_between=7)
    assert due_after_session(plan, 2, None, NOW) is None
    assert "every 2 sessions" in due_after_session(plan, 3, None, NOW)
    assert "7 days" in due_after_session(plan, 4, NOW - timedelta(days=3), NOW)
    assert due_after_session(plan, 4, NOW - timedelta(days=8), NOW) is None
    assert "no session measures" in due_after_session(Plan(["phq9"], []), 1, None, NOW)


class Feedback:
    def __init__(self, db_url):
        self.runtime = service_runtime("feedback", db_url, "127.0.0.1:1", wake_port=None)
        self.handlers = handlers(FeedbackSettings(public_url="http://127.0.0.1:8002"))
        self.app = create_app(self.runtime.config, self.runtime)
        self.api = self.app.test_client()
        secret = self.runtime.config.auth_secret
        self.sup = {"Authorization": "Bearer " + issue_token(secret, "sup", "supervisor")}
        self.ada = {"Authorization": "Bearer " + issue_token(secret, "ada", "clinician", "k1")}
        self.n = 0

    def deliver(self, name: str, data: dict) -> None:
        spec = spec_named(name)
        event = Event(type=spec.type, source="scheduling", subject="c1", data=spec.validate_outgoing(data))
        with self.runtime.sessions() as s, s.begin():
            self.handlers[spec.type](s, event.with_data(spec.load_incoming(event.data)))

    def register(self, consent=True):
        self.deliver(
            "client.registered",
            {
                "client_id": "c1",
                "clinician_id": "k1",
                "episode_id": "e1",
                "preferred_name": "Jo",
                "email": "jo@example.org",
                "timezone": "Europe/London",
                "consent_email": consent,
                "status": "active",
            },
        )

    def booked(self, starts_at):
        self.n += 1
        self.deliver(
            "appointment.booked",
            {
                "appointment_id": f"a{self.n}",
                "client_id": "c1",
                "clinician_id": "k1",
                "appointment_type": "individual",
                "modality": "in_person",
                "starts_at": starts_at,
                "ends_at": starts_at + timedelta(minutes=50),
            },
        )

    def completed(self, number):
        self.deliver(
            "session.completed",
            {
                "appointment_id": f"s{number}",
                "client_id": "c1",
                "clinician_id": "k1",
                "episode_id": "e1",
                "appointment_type": "individual",
                "session_number": number,
                "completed_at": NOW,
            },
        )

    def assignments(self):
        with self.runtime.sessions() as s:
            return [
                (a.trigger, a.status, a.measures) for a in s.scalars(select(Assignment).order_by(Assignment.issued_at))
            ]


@pytest.fixture
def fb(db_url):
    f = Feedback(db_url)
    yield f
    f.runtime.engine.dispose()


def test_first_booking_of_an_episode_sends_the_intake_baseline_once(fb):
    fb.register()
    fb.booked(NOW + timedelta(days=2))
    fb.booked(NOW + timedelta(days=9))  # a second booking: no second baseline
    assert fb.assignments() == [("intake", "open", ["phq9"])]


def test_a_booking_entered_after_it_started_gets_no_baseline(fb):
    fb.register()
    fb.booked(NOW - timedelta(minutes=30))
    assert fb.assignments() == []


def test_plans_via_the_api_every_second_session_with_a_client_override(fb):
    fb.register()
    bad = fb.api.put("/api/plans/practice", headers=fb.sup, json={"intake_measures": ["nope"], "session_measures": []})
    assert bad.status_code == 422 and "intake_measures" in bad.json["errors"]
    assert (
        fb.api.put(
            "/api/plans/practice", headers=fb.ada, json={"intake_measures": [], "session_measures": []}
        ).status_code
        == 403
    )
    practice = fb.api.put(
        "/api/plans/practice",
        headers=fb.sup,
        json={"intake_measures": ["phq9", "gad7"], "session_measures": ["phq9"], "every_n_sessions": 2},
    )
    assert practice.status_code == 200 and practice.json["every_n_sessions"] == 2
    for number in (1, 2, 3):
        fb.completed(number)
    assert [(t, s) for t, s, _ in fb.assignments()] == [
        ("session", "skipped"),
        ("session", "open"),
        ("session", "skipped"),
    ]
    mine = fb.api.put(
        "/api/clients/c1/plan", headers=fb.ada, json={"intake_measures": [], "session_measures": ["ors", "srs"]}
    )
    assert mine.status_code == 200 and mine.json["scope"] == "c1"
    fb.completed(4)
    assert fb.assignments()[-1] == ("session", "open", ["ors", "srs"])
    statuses = fb.api.get("/api/clients/c1/questionnaires", headers=fb.ada).json
    assert statuses[0]["skip_reason"] == "the plan asks every 2 sessions"
    assert fb.api.delete("/api/clients/c1/plan", headers=fb.ada).status_code == 204
    assert fb.api.get("/api/clients/c1/plan", headers=fb.ada).json["scope"] == "c1"
    assert fb.api.get("/api/clients/c1/plan", headers=fb.ada).json["session_measures"] == ["phq9"]


def test_no_consent_is_recorded_and_visible(fb):
    fb.register(consent=False)
    fb.completed(1)
    [status] = fb.api.get("/api/clients/c1/questionnaires", headers=fb.ada).json
    assert status["status"] == "no_consent" and "consented" in status["skip_reason"]
