"""Outcome reports end to end: clients registered, seen and discharged through scheduling's API, questionnaires
answered on their pages from the emailed links, and the report read from feedback's API as an admin, a
supervisor and a clinician (real Kafka, real SMTP)."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.e2e.test_main_flow import _complete_past_session, _link_in, _submit


def _answers(phq9_items: list[int], gad7_items: list[int]) -> dict:
    """PHQ-9 item 9 is never answered above 0 here: a risk answer is another test's business."""
    assert len(phq9_items) == 8 and len(gad7_items) == 7
    answers = {f"phq9.{i}": str(v) for i, v in enumerate(phq9_items, 1)}
    answers |= {"phq9.9": "0", "phq9.difficulty": "1"}
    return answers | {f"gad7.{i}": str(v) for i, v in enumerate(gad7_items, 1)}


def _ones(n: int, of: int) -> list[int]:
    return [1] * n + [0] * (of - n)


@pytest.fixture
def report_stack(kafka_bootstrap, kafka_namespace, sqlite_urls, mail):
    from tests.support.stack import Stack

    s = Stack(
        sqlite_urls,
        kafka_bootstrap,
        mail.port,
        settings={"feedback": {"session_measures": ["phq9", "gad7"], "intake_measures": [], "report_min_episodes": 2}},
    )
    yield s
    s.close()


def test_an_outcome_report_from_episodes_seen_answered_and_discharged(report_stack, mail):
    stack, h = report_stack, report_stack.headers()
    requests.post(
        stack.url("scheduling", "/api/appointment-types"),
        headers=h,
        json={"id": "individual", "name": "Individual therapy", "minutes": 50},
    )
    therapists = {
        key: requests.post(
            stack.url("scheduling", "/api/clinicians"),
            headers=h,
            json={"name": name, "email": f"{key}@practice.example", "working_hours": {"mon": [["09:00", "17:00"]]}},
        ).json()
        for key, name in (("ada", "Dr Ada Okafor"), ("ben", "Dr Ben Hale"))
    }
    # (therapist, first answers, second answers or None for a questionnaire left unanswered)
    courses = {
        "recovers": ("ada", _answers([2] * 8, [2] * 6 + [0]), _answers(_ones(5, 8), _ones(4, 7))),
        "never-a-case": ("ada", _answers(_ones(6, 8), _ones(5, 7)), _answers(_ones(7, 8), _ones(6, 7))),
        "unanswered": ("ben", None, None),
    }
    clients = {}
    for key, (therapist, *_rest) in courses.items():
        clients[key] = requests.post(
            stack.url("scheduling", "/api/clients"),
            headers=h,
            json={"legal_name": f"Client {key}", "email": f"{key}@example.org", "consent_email": True,
                  "clinician_id": therapists[therapist]["id"]},
        ).json()  # fmt: skip
    start = datetime.now(UTC) - timedelta(hours=6)
    for session_number in (1, 2):
        for i, (key, (therapist, *answers)) in enumerate(courses.items()):
            when = start + timedelta(hours=2 * session_number, minutes=40 * i)  # no two at once
            done = _complete_past_session(stack, therapists[therapist], clients[key], when, minutes=30)
            assert done["session_number"] == session_number
            invitation = mail.wait_for(lambda m, k=key: m.to == f"{k}@example.org", count=session_number)[-1]
            if answers[session_number - 1] is not None:
                assert _submit(_link_in(invitation), answers[session_number - 1]).status_code == 200
    for client in clients.values():
        discharged = requests.post(stack.url("scheduling", f"/api/clients/{client['id']}/discharge"), headers=h)
        assert discharged.status_code == 200, discharged.text

    def report(role: str = "admin", clinician_id: str | None = None, **params) -> requests.Response:
        return requests.get(
            stack.url("feedback", "/api/reports/outcomes"), headers=stack.headers(role, clinician_id), params=params
        )

    deadline = time.monotonic() + 60  # the discharges travel scheduling -> Kafka -> feedback
    while report().json()["rows"][0].get("finished") != 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    rows = {r["group"]: r for r in report().json()["rows"]}
    practice = rows["all"]
    assert (practice["finished"], practice["paired"], practice["cases_at_start"]) == (3, 2, 1)
    assert (practice["recovered"], practice["recovery_pct"]) == (1, 100.0)  # 16/12 -> 5/4
    assert (practice["reliably_improved"], practice["reliable_improvement_pct"]) == (1, 50.0)
    assert (practice["reliably_recovered"], practice["reliably_deteriorated"]) == (1, 0)
    assert (practice["questionnaires_completed"], practice["questionnaires_sent"]) == (4, 6)
    assert practice["mean_change_phq9"] == ((5 - 16) + (7 - 6)) / 2
    ada, ben = (rows[f"clinician:{therapists[k]['id']}"] for k in ("ada", "ben"))
    assert ada["finished"] == 2 and ada["recovered"] == 1
    assert ben["suppressed"] is True and ben["finished"] == "fewer than 2" and "recovered" not in ben

    as_csv = report(format="csv")
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["label"] for r in table] == ["The practice", "Dr Ada Okafor", "Dr Ben Hale"]
    assert table[0]["recovery_pct"] == "100.0" and table[2]["recovery_pct"] == ""

    mine = {r["group"]: r for r in report("supervisor", therapists["ada"]["id"]).json()["rows"]}
    assert set(mine) == {"all", f"clinician:{therapists['ada']['id']}"} and mine["all"]["finished"] == 2
    assert report("clinician", therapists["ada"]["id"]).status_code == 403
    assert report(start="2026-12-02", end="2026-12-01").status_code == 422
    assert report(start="2020-01-01", end="2020-01-31").json()["rows"][0]["suppressed"] is True
