from datetime import UTC, datetime, timedelta

from services.scheduling.availability import free_slots, merge, working_in_range
from services.scheduling.booking import Slot


def t(h, m=0, day=23):
    return datetime(2026, 11, day, h, m, tzinfo=UTC)  # 23 Nov 2026 is a Monday; London = UTC in winter


MIN = timedelta(minutes=1)


def test_merge_overlapping_and_touching_busy_time():
    assert merge([Slot(t(10), t(11)), Slot(t(9), t(10)), Slot(t(10, 30), t(12))]) == [Slot(t(9), t(12))]


def test_free_slots_skip_busy_time_and_stay_on_the_step_grid():
    working = [Slot(t(9), t(12))]
    busy = [Slot(t(9, 40), t(10, 30))]
    slots = free_slots(working, busy, 50 * MIN, 15 * MIN)
    assert [s.starts_at.strftime("%H:%M") for s in slots] == ["10:30", "10:45", "11:00"]
    assert all(s.ends_at - s.starts_at == 50 * MIN for s in slots)


def test_nothing_fits_in_a_gap_shorter_than_the_appointment():
    assert free_slots([Slot(t(9), t(10))], [Slot(t(9, 15), t(9, 30))], 50 * MIN, 15 * MIN) == []


def test_not_before_hides_the_past():
    slots = free_slots([Slot(t(9), t(11))], [], 60 * MIN, 30 * MIN, not_before=t(9, 20))
    assert [s.starts_at.strftime("%H:%M") for s in slots] == ["09:30", "10:00"]


def test_working_hours_over_several_local_days_and_a_dst_change():
    hours = {"fri": [["09:00", "10:00"]], "mon": [["09:00", "10:00"]]}
    window = Slot(datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))  # BST from 29 March
    blocks = working_in_range(hours, "Europe/London", window)
    assert [(b.starts_at.strftime("%a"), b.starts_at.astimezone(UTC).hour) for b in blocks] == [("Fri", 9), ("Mon", 8)]
