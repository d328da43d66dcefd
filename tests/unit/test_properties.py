"""Property tests (hypothesis): scoring never raises anything but a per-item error and never leaves its range;
recurrence keeps the local wall-clock time across daylight-saving changes in both directions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.feedback import measures
from services.feedback.scoring import InvalidAnswers, score
from services.scheduling.recurrence import MAX_OCCURRENCES, RecurrenceError, Rule, expand

MEASURES = sorted(measures.catalog())


@st.composite
def answer_sets(draw):
    """Any mix of valid choices, out-of-range values, missing items and unknown item ids."""
    measure = measures.get(draw(st.sampled_from(MEASURES)))
    answers = {}
    for item in [*measure.items, *measure.extra_items]:
        values = [o["value"] for o in measure.options_for(item)]
        answers[item["id"]] = draw(
            st.one_of(st.sampled_from(values), st.none(), st.integers(min_value=-5, max_value=20))
        )
    if draw(st.booleans()):
        answers[draw(st.text(min_size=1, max_size=6))] = draw(st.integers(min_value=0, max_value=3))
    return measure, answers


@settings(max_examples=400, deadline=None)
@given(answer_sets())
def test_any_answer_set_scores_in_range_or_names_each_bad_item(case):
    measure, answers = case
    try:
        result = score(measure, answers)
    except InvalidAnswers as exc:
        assert exc.problems and all(isinstance(m, str) and m for m in exc.problems.values())
        known = {i["id"] for i in [*measure.items, *measure.extra_items]}
        assert all(key in known or key in answers for key in exc.problems)
        return
    lo, hi = measure.range
    assert lo <= result.total <= hi
    assert result.band is None or result.band in {b["label"] for b in measure.bands}
    assert not result.prorated or any(answers.get(i["id"]) is None for i in measure.items)
    for risk in result.risk_items:  # a risk item is never imputed: it was answered
        assert answers[risk["item"]] is not None


ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "America/Sao_Paulo", "UTC"]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)),
    freq=st.sampled_from(["weekly", "monthly"]),
    interval=st.integers(min_value=1, max_value=4),
    count=st.integers(min_value=1, max_value=60),
    minutes=st.sampled_from([30, 50, 80]),
)
def test_a_series_keeps_its_local_time_across_daylight_saving(zone, start, freq, interval, count, minutes):
    tz = ZoneInfo(zone)
    first = start.replace(minute=start.minute // 15 * 15, second=0, microsecond=0, tzinfo=tz)
    if first.replace(tzinfo=None) != first.astimezone(UTC).astimezone(tz).replace(tzinfo=None):
        return  # a wall-clock time that does not exist (the spring-forward gap): not a bookable start
    found = expand(Rule(freq, interval, count), first, timedelta(minutes=minutes), zone)
    assert 1 <= len(found) <= min(count, MAX_OCCURRENCES)
    assert found[0][0] == first.astimezone(UTC)
    starts = [s for s, _ in found]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for begins, ends in found:
        assert begins.tzinfo is not None and ends - begins == timedelta(minutes=minutes)
        local = begins.astimezone(tz)
        # the same wall-clock time and weekday every occurrence, whatever that day's offset (unless the time
        # does not exist that day: the spring-forward gap moves it)
        assert (local.hour, local.minute) == (first.hour, first.minute) or _in_gap(local, first, tz)
        assert local.weekday() == first.weekday() or _in_gap(local, first, tz)


def _in_gap(local: datetime, first: datetime, tz: ZoneInfo) -> bool:
    """The series' wall-clock time does not exist that day (spring forward): zoneinfo moves it by the gap."""
    wanted = local.replace(hour=first.hour, minute=first.minute, tzinfo=None)
    return wanted.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wanted


@given(count=st.integers().filter(lambda n: not 1 <= n <= MAX_OCCURRENCES))
def test_a_count_outside_the_caps_is_refused(count):
    with pytest.raises(RecurrenceError):
        Rule("weekly", 1, count)
