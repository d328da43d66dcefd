"""The off-track engine on hand-made trajectories: each rule, its explanation, and the client's status colour."""

from datetime import UTC, datetime

import pytest

from services.feedback import measures, rules
from services.feedback.trajectories import (
    Expected,
    ExpectedCourse,
    fit_course,
    fitted_expected,
    position,
    published_expected,
)

PHQ9, GAD7, SRS, ORS = (measures.get(m) for m in ("phq9", "gad7", "srs", "ors"))
T = datetime(2026, 1, 1, tzinfo=UTC)


def hist(*totals, start=1):
    return [
        rules.Observation(start + i, t, T, [], "intake" if i == 0 else f"session {start + i}")
        for i, t in enumerate(totals)
    ]


def test_published_course_numbers_worked_by_hand():
    # PHQ-9 (Espel-Huynh 2024): mean(w) = 12.90 - 1.45 w + 0.07 w^2. Intake 20, 4th questionnaire (w = 3):
    # mean 9.18, so 20 * 9.18 / 12.90 = 14.23 expected; the boundary is the reliable change (6) worse: 20.23.
    e = published_expected(PHQ9, 20, 4)
    assert (e.expected, e.boundary) == (14.23, 20.23) and "Espel-Huynh" in e.source
    assert published_expected(PHQ9, 20, 1).expected == 20  # the first questionnaire is the intake
    # held at the curve's lowest point (w = 10.36): 20 * 5.391 / 12.9 = 8.36, not a predicted relapse
    assert published_expected(PHQ9, 20, 12).expected == published_expected(PHQ9, 20, 30).expected == 8.36
    assert published_expected(PHQ9, 10, 4).expected == 7.12  # intake-stratified: half the intake, half the score
    # GAD-7: intake 15, 3rd questionnaire (w = 2): mean 9.28, 15 * 9.28 / 11.5 = 12.1; boundary + 4
    g = published_expected(GAD7, 15, 3)
    assert (g.expected, g.boundary) == (12.1, 16.1)


def test_measures_without_a_published_curve_have_no_default_and_say_so():
    assert published_expected(ORS, 18, 4) is None
    assert ExpectedCourse(ORS, 18)(4) is None
    assert ExpectedCourse(ORS, 18).label == "reliable-change rule only (no published curve)"
    for m in measures.catalog().values():  # every default is cited or says plainly that there is none
        course = m.expected_course
        assert course is not None, m.id
        assert course["model"] == "none" and "no " in course["source"].lower() or course["derivation"], m.id


@pytest.mark.parametrize(("score", "where"), [(14, "on_track"), (17, "watch"), (20.27, "watch"), (21, "off_track")])
def test_position_against_the_expected_course(score, where):
    assert position(score, Expected(4, 14.51, 20.27, "x"), True) == where


def balanced_history(n_at_2=30, n_at_3=10):
    """Intakes 10..20; the 2nd score is 1 + 0.5 * intake + a residual in -2..2, balanced at every intake, so
    least squares must find intercept 1 and slope 0.5 exactly."""
    episodes = []
    for i in range(n_at_2):
        intake = 10 + 2 * (i % 6)
        e = {1: intake, 2: 1 + 0.5 * intake + (i // 6 % 5 - 2)}
        if i < n_at_3:
            e[3] = intake - 3
        episodes.append(e)
    return episodes


def test_a_practice_fit_by_hand():
    fitted = fit_course(PHQ9, balanced_history(), version=3, percentile=95, min_episodes=30)
    line = fitted.sessions[2]
    assert (line.intercept, line.slope, line.episodes) == (1.0, 0.5, 30)
    assert line.margin == 2.0 and line.rmse == round(2**0.5, 3)  # the 95th percentile of -2..2, and sqrt(2)
    assert 3 not in fitted.sessions  # only 10 episodes reached a 3rd questionnaire
    assert fitted.label == "practice curves v3 (30 episodes)"
    course = ExpectedCourse(PHQ9, 16, fitted)
    assert (course(2).expected, course(2).boundary, course(2).source) == (9.0, 11.0, fitted.label)
    assert course(3) == published_expected(PHQ9, 16, 3)  # beyond the practice's data: the published default
    assert course.label == fitted.label


def test_a_higher_is_better_fit_puts_the_boundary_below():
    episodes = [{1: e[1], 2: 40 - e[2]} for e in balanced_history()]
    fitted = fit_course(ORS, episodes, min_episodes=30)
    e = fitted_expected(ORS, fitted, 16, 2)
    assert e.expected == 31.0 and e.boundary == 29.0


def test_too_few_episodes_fit_nothing():
    assert fit_course(PHQ9, balanced_history(n_at_2=29), min_episodes=30).sessions == {}


def test_off_track_explains_itself():
    history = hist(20, 19, 18, 22)
    expected = published_expected(PHQ9, 20, 4)
    signal = rules.off_track_signal(PHQ9, history, expected)
    assert signal.rule == "off_track" and signal.severity == "moderate"
    assert "PHQ-9 is 22 at session 4" in signal.explanation and "14.23" in signal.explanation
    assert "Espel-Huynh" in signal.explanation  # which model it was judged against
    assert rules.off_track_signal(PHQ9, hist(20, 19, 18, 15), expected) is None


def test_deterioration_wins_over_off_track_and_plateau():
    found = rules.evaluate(PHQ9, hist(12, 13, 14, 15, 17, 19), expected_for=ExpectedCourse(PHQ9, 12))
    assert [s.rule for s in found] == ["reliable_deterioration"]
    assert found[0].model == "published course: Espel-Huynh et al. 2024, PHQ-9 growth curve"  # recorded on the alert


def test_plateau_after_six_questionnaires_without_reliable_change():
    signal = rules.plateau_signal(PHQ9, hist(15, 14, 16, 15, 13, 12), 6)
    assert signal.rule == "plateau" and signal.severity == "low"
    assert rules.plateau_signal(PHQ9, hist(15, 14, 16, 15, 13), 6) is None  # too early
    assert rules.plateau_signal(PHQ9, hist(15, 14, 12, 10, 9, 8), 6) is None  # improved reliably
    assert rules.plateau_signal(PHQ9, hist(6, 6, 6, 6, 6, 6), 6) is None  # never in the clinical range


def test_alliance_below_36_or_dropping():
    low = rules.alliance_signal(SRS, hist(38, 34))
    assert low.rule == "alliance" and "below 36" in low.explanation
    drop = rules.alliance_signal(SRS, hist(39, 37))
    assert drop.severity == "low" and "dropped from 39 to 37" in drop.explanation
    assert rules.alliance_signal(SRS, hist(37, 38)) is None
    assert rules.alliance_signal(PHQ9, hist(3, 2)) is None  # not an alliance measure


@pytest.mark.parametrize(
    ("totals", "risk", "status"),
    [
        ((20, 14), False, "on_track"),
        ((20, 18), False, "watch"),
        ((20, 24), False, "off_track"),
        ((11, 17), False, "off_track"),
        ((6, 7), False, "not_in_clinical_range"),
        ((20, 10), True, "risk"),
    ],
)
def test_client_status_colours(totals, risk, status):
    history = hist(*totals)
    if risk:
        history[-1] = rules.Observation(2, totals[-1], T, [{"item": "9", "value": 1, "severity": "urgent"}])
    expected = published_expected(PHQ9, totals[0], 2)
    assert rules.client_status(PHQ9, history, expected) == status


def test_srs_has_no_reliable_change_and_no_change_class():
    from services.feedback.change import classify

    assert classify(SRS, 30, 40) is None
    assert rules.deterioration_signal(SRS, hist(40, 20)) is None


def test_plateau_length_is_the_measures_own_setting():
    import dataclasses

    flat = hist(15, 14, 16)
    assert PHQ9.plateau_after == 6 and not [s for s in rules.evaluate(PHQ9, flat) if s.rule == "plateau"]
    monthly = dataclasses.replace(PHQ9, plateau_after=3)
    assert [s.rule for s in rules.evaluate(monthly, flat)] == ["plateau"]
    import json

    from marshmallow import ValidationError

    shipped = json.loads((measures.HERE / "phq9.json").read_text())
    with pytest.raises(ValidationError):
        measures.load_definition({**shipped, "plateau_after": 1})  # a plateau needs at least two questionnaires
