"""Measurement plans applied by the feedback handlers: intake baselines, every Nth session, minimum spacing,
per-client overrides, and skips that staff can see."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.feedback.models import Assignment
from services.feedback.plans import Plan, due_after_session
from shared.events import catalog as events
from tests.support import events as ev
from tests.support.apps import make_app

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
        self.service = make_app("feedback", db_url)
        self.runtime, self.api = self.service.runtime, self.service.client
        self.sup = self.service.headers("supervisor")
        self.ada = self.service.headers("clinician", "k1")
        self.n = 0

    def register(self, consent=True):
        self.service.deliver(events.CLIENT_REGISTERED, ev.client(consent_email=consent))

    def booked(self, starts_at):
        self.n += 1
        self.service.deliver(events.APPOINTMENT_BOOKED, ev.booked(starts_at, f"a{self.n}"))

    def completed(self, number):
        self.service.deliver(events.SESSION_COMPLETED, ev.session_completed(number, completed_at=NOW))

    def assignments(self):
        with self.runtime.sessions() as s:
            return [
                (a.trigger, a.status, a.measures) for a in s.scalars(select(Assignment).order_by(Assignment.issued_at))
            ]


@pytest.fixture
def fb(db_url):
    f = Feedback(db_url)
    yield f
    f.service.close()


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
    # ...and announced, so the front desk sees why nothing went; nothing was issued.
    from shared.messaging.tables import OutboxMessage

    with fb.runtime.sessions() as s:
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type.like("attune.feedback.questionnaire.%")))
        said = [(m.event_type, json.loads(m.payload)["data"]) for m in sent]
    assert [(t, d["assignment_id"], d["reason"]) for t, d in said] == [
        (events.QUESTIONNAIRE_SKIPPED.type, status["assignment_id"], status["skip_reason"])
    ]
