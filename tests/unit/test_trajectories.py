"""The off-track engine on hand-made trajectories: each rule, its explanation, and the client's status colour."""

from datetime import UTC, datetime

import pytest

from services.feedback import measures, rules
from services.feedback.trajectories import Expected, default_expected, position, practice_expected

PHQ9, SRS, ORS = measures.get("phq9"), measures.get("srs"), measures.get("ors")
T = datetime(2026, 1, 1, tzinfo=UTC)


def hist(*totals, start=1):
    return [
        rules.Observation(start + i, t, T, [], "intake" if i == 0 else f"session {start + i}")
        for i, t in enumerate(totals)
    ]


def test_default_model_numbers_worked_by_hand():
    # intake 20, floor 2, rate .22: expected at session 4 = 20 - .22 * 18 * ln 4 = 14.51; boundary + 1.645 * 3.5
    e = default_expected(PHQ9.expected_course, 20, 4, True)
    assert (e.expected, e.boundary) == (14.51, 20.27)
    assert default_expected(PHQ9.expected_course, 20, 1, True).expected == 20  # session 1 is the intake
    assert default_expected(PHQ9.expected_course, 1, 5, True).expected == 1  # below the floor: no change expected
    better = default_expected(ORS.expected_course, 18, 4, False)  # higher is better: expected to rise
    assert better.expected > 18 and better.boundary < better.expected


@pytest.mark.parametrize(("score", "where"), [(14, "on_track"), (17, "watch"), (20.27, "watch"), (21, "off_track")])
def test_position_against_the_expected_course(score, where):
    assert position(score, Expected(4, 14.51, 20.27, "x"), True) == where


def test_practice_curves_take_over_with_enough_similar_episodes():
    episodes = [{1: 15 + (i % 3) - 1, 3: 10 + (i % 5)} for i in range(40)]  # intakes 14-16
    e = practice_expected(episodes, 15, 3, True, min_episodes=30)
    assert e.source == "practice (40 episodes)" and e.expected == 12.0
    assert practice_expected(episodes, 22, 3, True, min_episodes=30) is None  # no similar intakes
    assert practice_expected(episodes[:10], 15, 3, True, min_episodes=30) is None


def test_off_track_explains_itself():
    history = hist(20, 19, 18, 22)
    expected = default_expected(PHQ9.expected_course, 20, 4, True)
    signal = rules.off_track_signal(PHQ9, history, expected)
    assert signal.rule == "off_track" and signal.severity == "moderate"
    assert "PHQ-9 is 22 at session 4" in signal.explanation and "14.51" in signal.explanation
    assert rules.off_track_signal(PHQ9, hist(20, 19, 18, 15), expected) is None


def test_deterioration_wins_over_off_track_and_plateau():
    expected_for = lambda s: default_expected(PHQ9.expected_course, 12, s, True)  # noqa: E731
    found = rules.evaluate(PHQ9, hist(12, 13, 14, 15, 17, 19), expected_for=expected_for)
    assert [s.rule for s in found] == ["reliable_deterioration"]


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
    expected = default_expected(PHQ9.expected_course, totals[0], 2, True)
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
