import copy
import json

import pytest
from marshmallow import ValidationError

from services.feedback import measures
from services.feedback.scoring import InvalidAnswers, band_for, score

PHQ9 = measures.get("phq9")
GAD7 = measures.get("gad7")


def answers_totalling(measure, total, risk_zero=True):
    """Spread ``total`` over the items, keeping risk items at 0 when asked."""
    risk = {r["item"] for r in measure.risk_items} if risk_zero else set()
    items = [i["id"] for i in measure.items if i["id"] not in risk]
    out = {i["id"]: 0 for i in measure.items}
    for item_id in items:
        take = min(3, total)
        out[item_id], total = take, total - take
    assert total == 0
    return {**out, **{e["id"]: 0 for e in measure.extra_items}}


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (24, "severe"),
    ],
)
def test_phq9_bands_at_every_boundary(total, band):
    result = score(PHQ9, answers_totalling(PHQ9, total))
    assert (result.total, result.band) == (total, band)


def test_phq9_top_of_range_needs_item_9():
    result = score(PHQ9, {**{str(i): 3 for i in range(1, 10)}, "difficulty": 3})
    assert (result.total, result.band) == (27, "severe")
    assert result.risk_items == [{"item": "9", "value": 3, "severity": "urgent"}]


@pytest.mark.parametrize(
    ("total", "band"),
    [(4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"), (15, "severe"), (21, "severe")],
)
def test_gad7_bands_at_every_boundary(total, band):
    assert score(GAD7, answers_totalling(GAD7, total)).band == band


def test_item_9_above_zero_is_a_risk_whatever_the_total():
    result = score(PHQ9, {**answers_totalling(PHQ9, 0), "9": 1})
    assert result.total == 1 and result.band == "minimal" and result.has_risk


def test_the_difficulty_item_is_not_scored_and_may_be_skipped():
    with_it = score(PHQ9, {**answers_totalling(PHQ9, 12), "difficulty": 3})
    without = score(PHQ9, {k: v for k, v in answers_totalling(PHQ9, 12).items() if k != "difficulty"})
    assert with_it.total == without.total == 12


def test_partial_or_invalid_answer_sets_are_refused_naming_the_items():
    answers = answers_totalling(PHQ9, 6)
    answers["3"], answers["7"] = None, 4
    answers["extra"] = 1
    with pytest.raises(InvalidAnswers) as err:
        score(PHQ9, answers)
    assert set(err.value.problems) == {"3", "7", "extra"}
    assert "answer choices" in err.value.problems["7"]


def _custom(**changes):
    doc = json.loads((measures.HERE / "phq9.json").read_text())
    doc.update(id="custom", **changes)
    return measures.load_definition(doc)


def test_prorating_only_where_the_policy_allows_and_never_for_a_risk_item():
    lenient = _custom(missing={"prorate_max_missing": 1})
    answers = {**answers_totalling(lenient, 16), "1": None}  # 8 answered items: 3+3+3+3+1 = 13
    result = score(lenient, answers)
    assert result.prorated and result.total == pytest.approx(13 / 8 * 9, abs=0.05)
    with pytest.raises(InvalidAnswers) as err:
        score(lenient, {**answers_totalling(lenient, 5), "9": None})
    assert "cannot be skipped" in err.value.problems["9"]
    with pytest.raises(InvalidAnswers):
        score(PHQ9, {**answers_totalling(PHQ9, 5), "1": None})  # PHQ-9 default: no pro-rating


def test_reverse_scored_items_count_from_the_other_end():
    m = _custom(reverse_items=["2"])
    plain = score(PHQ9, {**answers_totalling(PHQ9, 0), "2": 3})
    reversed_ = score(m, {**answers_totalling(m, 0), "2": 3})
    assert plain.total == 3 and reversed_.total == 0  # item 2 at 3 scores 0 when reversed...
    assert score(m, answers_totalling(m, 0)).total == 3  # ...and item 2 at 0 scores 3


def test_prorated_totals_between_bands_round_half_up():
    assert band_for(PHQ9, 9.5) == "moderate"
    assert band_for(PHQ9, 9.4) == "mild"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bands": [{"min": 0, "max": 9, "label": "a"}, {"min": 11, "max": 27, "label": "b"}]}, "bands"),
        ({"reverse_items": ["42"]}, "reverse_items"),
        ({"reliable_change": {}}, "reliable_change"),
    ],
)
def test_bad_definitions_are_refused_at_load(change, field):
    doc = json.loads((measures.HERE / "phq9.json").read_text())
    with pytest.raises(ValidationError) as err:
        measures.load_definition({**copy.deepcopy(doc), **change})
    assert field in err.value.messages


def test_shipped_measures_carry_loinc_codes_and_sources():
    assert PHQ9.loinc == {"panel": "44249-1", "total": "44261-6"}
    assert [i["loinc"] for i in PHQ9.items][8] == "44260-8"
    assert GAD7.loinc["total"] == "70274-6"
    assert all(m.sources and m.licence for m in measures.catalog().values())


CORE10 = measures.get("core10")
PCL5 = measures.get("pcl5")
WHO5 = measures.get("who5")


def test_core10_reverse_scores_items_2_and_3_and_flags_item_6():
    worst = {str(i): 4 for i in range(1, 11)} | {"2": 0, "3": 0, "6": 0}  # no support, cannot cope, no plans
    result = score(CORE10, worst)
    assert result.total == 36 and not result.has_risk
    assert score(CORE10, {**worst, "6": 1}).risk_items == [{"item": "6", "value": 1, "severity": "urgent"}]
    best = {str(i): 0 for i in range(1, 11)} | {"2": 4, "3": 4}
    assert score(CORE10, best).total == 0


def test_core10_prorates_one_missing_item_but_never_the_risk_item():
    answers = {str(i): 2 for i in range(1, 11)} | {"2": 2, "3": 2}
    answers["5"] = None  # nine answered, each scoring 2: 18 -> 18 / 9 * 10 = 20
    result = score(CORE10, answers)
    assert result.prorated and result.total == 20
    with pytest.raises(InvalidAnswers) as err:
        score(CORE10, {**answers, "5": 2, "6": None})
    assert "cannot be skipped" in err.value.problems["6"]
    with pytest.raises(InvalidAnswers):
        score(CORE10, {**answers, "7": None})  # two missing: too many


def test_core10_clinical_cutoff_and_reliable_change_at_ninety_percent():
    from services.feedback.change import classify, in_clinical_range

    assert in_clinical_range(CORE10, 11) and not in_clinical_range(CORE10, 10)
    assert classify(CORE10, 20, 14) == "improved" and classify(CORE10, 14, 20) == "deteriorated"
    assert classify(CORE10, 15, 9) == "recovered"


def test_pcl5_sum_and_provisional_cutoff():
    from services.feedback.change import in_clinical_range

    result = score(PCL5, {str(i): 2 for i in range(1, 21)})
    assert result.total == 40 and in_clinical_range(PCL5, 33) and not in_clinical_range(PCL5, 32)
    assert score(PCL5, {str(i): 4 for i in range(1, 21)}).total == 80


def test_who5_higher_is_better_below_13_is_poor():
    from services.feedback.change import classify, in_clinical_range

    assert score(WHO5, {str(i): 5 for i in range(1, 6)}).total == 25
    assert in_clinical_range(WHO5, 12) and not in_clinical_range(WHO5, 13)
    assert classify(WHO5, 10, 16) == "recovered" and classify(WHO5, 16, 13) == "deteriorated"


def test_oq45_reverse_scoring_and_item_8():
    oq = measures.get("oq45")
    all_zero = {str(i): 0 for i in range(1, 46)}
    assert score(oq, all_zero).total == 9 * 4  # the nine reverse-scored items count 4 when answered "Never"
    assert score(oq, {**all_zero, **{k: 4 for k in oq.reverse_items}}).total == 0
    assert score(oq, {**all_zero, "8": 2}).risk_items[0]["severity"] == "urgent"
    assert "no item text" in oq.licence
