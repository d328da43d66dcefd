from datetime import UTC, datetime

import pytest

from services.feedback import change, measures, rules

PHQ9 = measures.get("phq9")
T = datetime(2026, 1, 1, tzinfo=UTC)


def obs(total, label="session", risk=()):
    return rules.Observation(None, total, T, list(risk), label)


def test_jacobson_truax_threshold_from_sd_and_reliability():
    # SD 7.5, alpha .80: SE = 7.5 * sqrt(.2) = 3.354; S_diff = sqrt(2) * SE = 4.743; 1.96 * S_diff = 9.30.
    m = measures.load_definition({**_doc(), "reliable_change": {"sd": 7.5, "reliability": 0.8}})
    assert change.reliable_change_points(m) == pytest.approx(9.297, abs=0.001)
    assert change.rci(m, 20, 10) == pytest.approx(-2.108, abs=0.001)
    m90 = measures.load_definition({**_doc(), "reliable_change": {"sd": 7.5, "reliability": 0.8, "z": 1.645}})
    assert change.reliable_change_points(m90) == pytest.approx(7.803, abs=0.001)


def _doc():
    import json

    return json.loads((measures.HERE / "phq9.json").read_text())


@pytest.mark.parametrize(
    ("baseline", "latest", "expected"),
    [
        (18, 8, "recovered"),
        (18, 12, "improved"),
        (8, 2, "improved"),
        (12, 8, "no_reliable_change"),
        (11, 17, "deteriorated"),
        (11, 16, "no_reliable_change"),
    ],
)
def test_phq9_change_classes(baseline, latest, expected):
    assert change.classify(PHQ9, baseline, latest) == expected


def test_higher_is_better_measures_flip_direction():
    better = measures.load_definition(
        {**_doc(), "id": "wb", "direction": "higher_is_better", "clinical_cutoff": 13, "risk_items": []}
    )
    assert change.classify(better, 20, 14) == "deteriorated"
    assert change.classify(better, 8, 15) == "recovered"


def test_deterioration_explains_itself_with_the_numbers():
    signal = rules.deterioration_signal(PHQ9, [obs(11, "intake"), obs(14), obs(18, "session 4")])
    assert signal.rule == "reliable_deterioration"
    assert signal.explanation.startswith("PHQ-9 rose from 11 at intake to 18 at session 4: reliable deterioration")
    assert "threshold 6" in signal.explanation
    assert rules.deterioration_signal(PHQ9, [obs(11), obs(16)]) is None
    assert rules.deterioration_signal(PHQ9, [obs(11)]) is None


def test_a_risk_item_is_urgent_whatever_the_total():
    signals = rules.evaluate(PHQ9, [obs(1, risk=[{"item": "9", "value": 1, "severity": "urgent"}])])
    assert [(s.rule, s.severity) for s in signals] == [("risk_item", "urgent")]
    assert "\u201cSeveral days\u201d" in signals[0].explanation


def test_change_from_baseline_and_from_the_previous_score_with_its_direction():
    from services.feedback import change, measures

    phq9, who5 = measures.get("phq9"), measures.get("who5")
    steps = change.changes([14, 15, 8])
    assert [(s.from_baseline, s.from_previous) for s in steps] == [(None, None), (1, 1), (-6, -7)]
    assert change.direction(phq9, -7) == "better" and change.direction(phq9, 1) == "worse"
    assert change.direction(who5, 3) == "better"  # higher is better on WHO-5
    assert change.direction(phq9, 0) == "same"


def test_the_jacobson_truax_class_is_said_in_words():
    from services.feedback import change, measures

    phq9 = measures.get("phq9")
    assert change.in_words(change.classify(phq9, 14, 8)).startswith("Recovered")
    assert change.in_words(change.classify(phq9, 18, 11)) == "Reliably improved"
    assert change.in_words(change.classify(phq9, 14, 20)) == "Reliably deteriorated"
    assert change.in_words(change.classify(phq9, 14, 12)) == "No reliable change"
    assert change.in_words(change.classify(measures.get("srs"), 30, 38)).startswith("No published")
