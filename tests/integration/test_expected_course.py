"""Practice-fitted expected courses on PostgreSQL: ``flask fit-curves`` over a generated history, versions,
the minimum, and alerts that name the model they were judged against."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from services.feedback import create_app
from services.feedback.models import Alert, ClientRecord, CourseModel
from shared.db import transaction
from tests.support.apps import service_runtime
from tests.support.feedback_data import client_with_scores

EPISODES = 40


@pytest.fixture
def feedback(postgres_url):
    runtime = service_runtime("feedback", postgres_url)
    rng = random.Random(7)
    for i in range(EPISODES):  # a practice whose clients halve their score by the 2nd questionnaire
        intake = 12 + i % 9
        totals = [intake] + [max(0, round(intake * f) + rng.choice((-1, 0, 1))) for f in (0.5, 0.45, 0.4)]
        client_with_scores(runtime, f"c-{i}", "k-ada", totals)
    with transaction(runtime.sessions) as s:
        for client in s.scalars(select(ClientRecord)):
            client.status = "discharged"  # finished episodes: the practice's history
    app = create_app(runtime.settings, runtime)
    yield app, runtime
    runtime.engine.dispose()


def fit(app, *args):
    result = app.test_cli_runner().invoke(args=["fit-curves", "--measure", "phq9", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_fit_curves_stores_versions_and_alerts_name_the_one_they_used(feedback):
    app, runtime = feedback
    shown = fit(app, "--dry-run")
    assert f"PHQ-9: {EPISODES} finished episodes" in shown and "dry run: not stored" in shown
    assert "90th percentile of residuals" in shown
    with runtime.sessions() as s:
        assert s.scalars(select(CourseModel)).all() == []

    refused = fit(app, "--min-episodes", str(EPISODES + 1))
    assert f"fewer than {EPISODES + 1}: kept published course: Espel-Huynh" in refused

    assert f"stored as phq9 practice curves v1 ({EPISODES} episodes)" in fit(app)
    assert f"stored as phq9 practice curves v2 ({EPISODES} episodes)" in fit(app, "--percentile", "95")
    with runtime.sessions() as s:
        rows = s.scalars(select(CourseModel).order_by(CourseModel.version)).all()
        assert [(r.measure, r.version, r.episodes, r.percentile) for r in rows] == [
            ("phq9", 1, EPISODES, 90.0),
            ("phq9", 2, EPISODES, 95.0),
        ]
        second = rows[1].sessions["2"]  # [intercept, slope, margin, episodes, rmse]
        assert 0.4 < second[1] < 0.6 and second[3] == EPISODES  # the practice's slope: about half the intake
        assert set(rows[1].sessions) == {"2", "3", "4"}

    # 20 then 15: on track by the published course (17.9 expected), far off the practice's own (about 10)
    client_with_scores(runtime, "c-new", "k-ada", [20, 15], name="New")
    with runtime.sessions() as s:
        alert = s.scalar(select(Alert).where(Alert.client_id == "c-new"))
    assert alert.rule == "off_track" and alert.course_model == f"practice curves v2 ({EPISODES} episodes)"
    assert "practice curves v2" in alert.explanation


def test_without_a_fit_alerts_name_the_published_course(feedback):
    _, runtime = feedback
    client_with_scores(runtime, "c-up", "k-ada", [12, 19], name="Up")  # +7: reliable deterioration
    with runtime.sessions() as s:
        alert = s.scalar(select(Alert).where(Alert.client_id == "c-up"))
    assert alert.rule == "reliable_deterioration"
    assert alert.course_model == "published course: Espel-Huynh et al. 2024, PHQ-9 growth curve"
