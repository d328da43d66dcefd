from datetime import UTC, datetime, timedelta

import pytest

from services.scheduling import booking
from services.scheduling.booking import IllegalTransition, RuleViolation, Slot

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 10:00 in London (GMT)
SLOT = Slot(T0, T0 + timedelta(minutes=50))
HOURS = {"mon": [["09:00", "12:30"], ["13:30", "18:00"]]}


def test_slots_touching_end_to_start_do_not_overlap():
    assert not SLOT.overlaps(Slot(SLOT.ends_at, SLOT.ends_at + timedelta(minutes=50)))
    assert SLOT.overlaps(Slot(SLOT.ends_at - timedelta(minutes=1), SLOT.ends_at + timedelta(minutes=50)))
    assert booking.conflicts(SLOT, [Slot(T0 - timedelta(hours=1), T0), SLOT]) == [SLOT]


def test_a_slot_must_end_after_it_starts():
    with pytest.raises(RuleViolation):
        Slot(T0, T0)


@pytest.mark.parametrize(
    ("status", "action", "now", "message"),
    [
        ("cancelled", "complete", T0 + timedelta(hours=1), "cancelled appointment cannot be completed"),
        ("booked", "check_in", T0 - timedelta(days=1), "too early to check in"),
        ("booked", "complete", T0 - timedelta(minutes=1), "before it starts"),
        ("completed", "cancel", T0 + timedelta(hours=1), "completed appointment cannot be cancelled"),
        ("booked", "no_show", T0 - timedelta(minutes=5), "before the appointment starts"),
        ("checked_in", "no_show", T0 + timedelta(minutes=5), "checked-in appointment"),
        ("no_show", "reschedule", T0, "no-show appointment cannot be moved"),
    ],
)
def test_illegal_transitions_say_why(status, action, now, message):
    with pytest.raises(IllegalTransition, match=message):
        booking.check_transition(status, action, SLOT, now)


@pytest.mark.parametrize(
    ("status", "action", "now", "result"),
    [
        ("booked", "check_in", T0 - timedelta(minutes=30), "checked_in"),
        ("checked_in", "complete", T0 + timedelta(minutes=50), "completed"),
        ("booked", "complete", T0, "completed"),
        ("booked", "cancel", T0 - timedelta(days=3), "cancelled"),
        ("booked", "no_show", T0 + timedelta(minutes=15), "no_show"),
    ],
)
def test_legal_transitions(status, action, now, result):
    assert booking.check_transition(status, action, SLOT, now) == result


def test_late_cancel_inside_the_window_only():
    window = timedelta(hours=24)
    assert booking.is_late_cancel(T0 - timedelta(hours=23, minutes=59), T0, window)
    assert not booking.is_late_cancel(T0 - timedelta(hours=24), T0, window)


def test_working_hours_and_time_off():
    assert booking.outside_working_hours(SLOT, HOURS, "Europe/London", []) is None
    lunch = Slot(datetime(2026, 11, 23, 12, 0, tzinfo=UTC), datetime(2026, 11, 23, 12, 50, tzinfo=UTC))
    assert "09:00–12:30, 13:30–18:00" in booking.outside_working_hours(lunch, HOURS, "Europe/London", [])
    tuesday = Slot(SLOT.starts_at + timedelta(days=1), SLOT.ends_at + timedelta(days=1))
    assert "not working" in booking.outside_working_hours(tuesday, HOURS, "Europe/London", [])
    off = [Slot(T0 - timedelta(hours=1), T0 + timedelta(minutes=10))]
    assert "time off" in booking.outside_working_hours(SLOT, HOURS, "Europe/London", off)


def test_working_hours_follow_the_clinicians_timezone_across_dst():
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    hours = {"mon": [["09:00", "10:00"]]}
    winter = Slot(datetime(2026, 11, 23, 14, 0, tzinfo=UTC), datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    summer = Slot(datetime(2026, 6, 1, 13, 0, tzinfo=UTC), datetime(2026, 6, 1, 14, 0, tzinfo=UTC))
    assert booking.outside_working_hours(winter, hours, "America/New_York", []) is None
    assert booking.outside_working_hours(summer, hours, "America/New_York", []) is None


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"funday": []}, "not a weekday"),
        ({"mon": [["10:00", "09:00"]]}, "end after"),
        ({"mon": [["09:00", "11:00"], ["10:00", "12:00"]]}, "overlap"),
        ({"mon": [["nine", "ten"]]}, "HH:MM"),
    ],
)
def test_bad_working_hours_are_refused(hours, message):
    with pytest.raises(ValueError, match=message):
        booking.validate_working_hours(hours)


def test_cli_working_hours_spec():
    from services.scheduling.cli import parse_hours

    assert parse_hours("mon-wed 09:00-12:30,13:30-18:00") == {
        d: [["09:00", "12:30"], ["13:30", "18:00"]] for d in ("mon", "tue", "wed")
    }
    assert parse_hours("sat,sun 10:00-14:00") == {"sat": [["10:00", "14:00"]], "sun": [["10:00", "14:00"]]}
