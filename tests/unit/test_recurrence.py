from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.scheduling.recurrence import MAX_OCCURRENCES, RecurrenceError, Rule, expand, shift_local

LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(minutes=50)


def local_times(occurrences, tz=LONDON):
    return [s.astimezone(tz).strftime("%Y-%m-%d %H:%M") for s, _ in occurrences]


def test_weekly_stays_at_ten_local_across_the_spring_change():
    first = datetime(2026, 3, 17, 10, 0, tzinfo=LONDON)  # GMT; London moves to BST on 29 March
    occ = expand(Rule("weekly", count=4), first, HOUR, "Europe/London")
    assert local_times(occ) == ["2026-03-17 10:00", "2026-03-24 10:00", "2026-03-31 10:00", "2026-04-07 10:00"]
    assert [s.hour for s, _ in occ] == [10, 10, 9, 9]  # UTC hours shift, local ones do not


def test_weekly_stays_at_ten_local_across_the_autumn_change():
    first = datetime(2026, 10, 20, 10, 0, tzinfo=LONDON)  # BST; back to GMT on 25 October
    occ = expand(Rule("weekly", count=3), first, HOUR, "Europe/London")
    assert local_times(occ) == ["2026-10-20 10:00", "2026-10-27 10:00", "2026-11-03 10:00"]
    assert [s.hour for s, _ in occ] == [9, 10, 10]
    assert all(e - s == HOUR for s, e in occ)


def test_every_other_week_until_a_date_inclusive():
    first = datetime(2026, 1, 5, 9, 0, tzinfo=LONDON)
    occ = expand(
        Rule("weekly", interval=2, until=datetime(2026, 2, 2, 9, 0, tzinfo=LONDON)), first, HOUR, "Europe/London"
    )
    assert local_times(occ) == ["2026-01-05 09:00", "2026-01-19 09:00", "2026-02-02 09:00"]


def test_monthly_by_weekday_and_by_last_weekday():
    second_tuesday = datetime(2026, 1, 13, 15, 0, tzinfo=LONDON)
    assert local_times(expand(Rule("monthly", count=3), second_tuesday, HOUR, "Europe/London")) == [
        "2026-01-13 15:00",
        "2026-02-10 15:00",
        "2026-03-10 15:00",
    ]
    last_friday = datetime(2026, 1, 30, 15, 0, tzinfo=LONDON)
    assert local_times(expand(Rule("monthly", count=3), last_friday, HOUR, "Europe/London")) == [
        "2026-01-30 15:00",
        "2026-02-27 15:00",
        "2026-03-27 15:00",
    ]


def test_series_are_capped():
    first = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    far = expand(Rule("weekly", until=datetime(2040, 1, 1, tzinfo=UTC)), first, HOUR, "UTC")
    assert len(far) == MAX_OCCURRENCES
    with pytest.raises(RecurrenceError):
        Rule("weekly", count=MAX_OCCURRENCES + 1)
    with pytest.raises(RecurrenceError):
        Rule("weekly")
    with pytest.raises(RecurrenceError):
        Rule("daily", count=3)


def test_this_and_following_moves_keep_local_time_across_dst():
    old = datetime(2026, 3, 24, 10, 0, tzinfo=LONDON)  # GMT
    new = datetime(2026, 3, 24, 11, 0, tzinfo=LONDON)
    later = datetime(2026, 3, 31, 10, 0, tzinfo=LONDON)  # BST
    moved = shift_local(later, old, new, "Europe/London")
    assert moved.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") == "2026-03-31 11:00"
    next_day = shift_local(later, old, old + timedelta(days=1), "Europe/London")
    assert next_day.astimezone(LONDON).strftime("%a %H:%M") == "Wed 10:00"
