"""After a risk answer on any measure with risk items, the client is told what worried us and where to get help,
in that measure's own words; a practice can word it per measure; nothing is said without a risk answer."""

from __future__ import annotations

import json

from services.feedback import crisis, measures
from services.feedback.scoring import score

PRACTICE = "Call the practice's crisis line."


def _answers(measure_id: str, value: int = 0, **items) -> dict:
    definition = measures.get(measure_id)
    answers = {item["id"]: value for item in definition.items}
    answers.update({item["id"]: 0 for item in definition.extra_items})
    answers.update(items)
    return answers


def test_a_phq9_risk_answer_is_named_in_plain_words_with_the_practice_help():
    scores = [score(measures.get("phq9"), _answers("phq9", **{"9": 1}))]
    (notice,) = crisis.notices(scores, PRACTICE)
    assert "better off dead" in notice.statement
    assert notice.resources == PRACTICE


def test_a_core10_risk_answer_is_worded_for_core10_not_for_phq9():
    scores = [score(measures.get("core10"), _answers("core10", **{"6": 2}))]
    (notice,) = crisis.notices(scores, PRACTICE)
    assert "plans to end your life" in notice.statement
    assert "better off dead" not in notice.statement


def test_a_licensed_item_without_our_wording_gets_a_neutral_sentence():
    scores = [score(measures.get("oq45"), _answers("oq45", **{"8": 3}))]
    assert [n.statement for n in crisis.notices(scores, PRACTICE)] == [crisis.NEUTRAL_STATEMENT]


def test_no_risk_answer_no_notice_and_two_measures_say_each_once():
    calm = [score(measures.get("phq9"), _answers("phq9")), score(measures.get("gad7"), _answers("gad7", 3))]
    assert crisis.notices(calm, PRACTICE) == []
    both = [
        score(measures.get("phq9"), _answers("phq9", **{"9": 3})),
        score(measures.get("core10"), _answers("core10", **{"6": 1})),
    ]
    assert len(crisis.notices(both, PRACTICE)) == 2


def test_a_practice_can_word_the_help_for_one_measure(tmp_path):
    definition = json.loads((measures.HERE / "core10.json").read_text())
    definition["crisis_text"] = "Ring our duty clinician on 0100 000 000."
    (tmp_path / "core10.json").write_text(json.dumps(definition))
    measures.use_extra_dir(str(tmp_path))
    try:
        core10 = [score(measures.get("core10"), _answers("core10", **{"6": 1}))]
        phq9 = [score(measures.get("phq9"), _answers("phq9", **{"9": 1}))]
        assert crisis.notices(core10, PRACTICE)[0].resources == "Ring our duty clinician on 0100 000 000."
        assert crisis.notices(phq9, PRACTICE)[0].resources == PRACTICE
    finally:
        measures.use_extra_dir(None)
