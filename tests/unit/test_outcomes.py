"""NHS Talking Therapies outcome definitions, on cases worked out by hand."""

from __future__ import annotations

from services.feedback.outcomes import EpisodeScores, Rate, classify, summarise


def episode(first: dict, last: dict, sessions: int = 6, sent: int = 6, done: int = 5, n: int = 0) -> EpisodeScores:
    return EpisodeScores(f"e{n}", "k1", sessions, first, last, sent, done)


RECOVERED = episode({"phq9": 16, "gad7": 12}, {"phq9": 6, "gad7": 5})  # a case; -10 and -7: both reliable
IMPROVED_STILL_A_CASE = episode({"phq9": 20, "gad7": 15}, {"phq9": 12, "gad7": 14})  # -8 reliable; PHQ-9 still >= 10
RECOVERED_NOT_RELIABLY = episode({"phq9": 11, "gad7": 8}, {"phq9": 8, "gad7": 6})  # below both cut-offs, -3 and -2
NOT_A_CASE = episode({"phq9": 7, "gad7": 5}, {"phq9": 1, "gad7": 1})  # -6: reliable improvement, never a case
DETERIORATED = episode({"phq9": 8, "gad7": 6}, {"phq9": 9, "gad7": 11})  # GAD-7 +5 >= 4; PHQ-9 +1
MIXED = episode({"phq9": 18, "gad7": 4}, {"phq9": 10, "gad7": 9})  # PHQ-9 -8 but GAD-7 +5: neither class


def test_a_recovered_episode():
    o = classify(RECOVERED)
    assert (o.finished, o.paired, o.case_at_start, o.recovered, o.reliably_improved) == (True, True, True, True, True)
    assert o.reliably_recovered and not o.reliably_deteriorated
    assert o.change == {"phq9": -10, "gad7": -7}


def test_an_episode_that_improved_reliably_but_is_still_a_case_has_not_recovered():
    o = classify(IMPROVED_STILL_A_CASE)
    assert o.case_at_start and o.reliably_improved and not o.recovered and not o.reliably_recovered


def test_recovery_without_reliable_change_is_recovery_but_not_reliable_recovery():
    o = classify(RECOVERED_NOT_RELIABLY)  # GAD-7 8 is a case: the cut-off counts as caseness
    assert o.case_at_start and o.recovered and not o.reliably_improved and not o.reliably_recovered


def test_an_episode_not_a_case_at_the_start_cannot_recover():
    o = classify(NOT_A_CASE)
    assert not o.case_at_start and not o.recovered and o.reliably_improved


def test_deterioration_on_either_measure_and_mixed_change():
    assert classify(DETERIORATED).reliably_deteriorated and not classify(DETERIORATED).reliably_improved
    mixed = classify(MIXED)
    assert not mixed.reliably_improved and not mixed.reliably_deteriorated and mixed.recovered is False


def test_one_session_is_not_a_finished_treatment_and_one_score_is_not_a_pair():
    assert not classify(episode({"phq9": 16, "gad7": 12}, {"phq9": 6, "gad7": 5}, sessions=1)).finished
    unpaired = classify(episode({"phq9": 16, "gad7": 12}, {"phq9": 6}))
    assert unpaired.finished and not unpaired.paired and not unpaired.recovered


def test_the_summary_counts_rates_over_their_own_denominators():
    one_session = episode({"phq9": 20, "gad7": 20}, {"phq9": 0, "gad7": 0}, sessions=1)
    unpaired = episode({"phq9": 16, "gad7": 12}, {"phq9": 6}, sent=4, done=1)
    group = [RECOVERED, IMPROVED_STILL_A_CASE, RECOVERED_NOT_RELIABLY, NOT_A_CASE, DETERIORATED, MIXED, unpaired]
    report = summarise("practice", "The practice", [*group, one_session])
    assert not report.suppressed
    assert (report.finished, report.paired, report.cases) == (7, 6, 4)  # cases: RECOVERED, IMPROVED, RNR, MIXED
    assert report.recovery == Rate(2, 4)  # RECOVERED, RECOVERED_NOT_RELIABLY
    assert report.reliable_recovery == Rate(1, 4)
    assert report.reliable_improvement == Rate(3, 6)  # RECOVERED, IMPROVED_STILL_A_CASE, NOT_A_CASE
    assert report.reliable_deterioration == Rate(1, 6)
    assert report.recovery.percent == 50.0 and report.reliable_deterioration.percent == 16.7
    assert report.completion == Rate(6 * 5 + 1, 6 * 6 + 4)  # finished episodes only
    # PHQ-9 changes: -10, -8, -3, -6, +1, -8 -> mean -34/6
    assert report.mean_change == {"phq9": round(-34 / 6, 2), "gad7": round((-7 - 1 - 2 - 4 + 5 + 5) / 6, 2)}


def test_fewer_than_the_minimum_finished_episodes_show_nothing():
    small = summarise("clinician:k1", "Dr A", [RECOVERED, NOT_A_CASE, DETERIORATED, MIXED], min_episodes=5)
    assert small.suppressed and small.finished is None and small.recovery is None
    assert not summarise("clinician:k1", "Dr A", [RECOVERED], min_episodes=1).suppressed
