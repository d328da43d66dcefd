from datetime import UTC, datetime, time

import pytest

from services.notifications.quiet_hours import in_quiet_hours, next_allowed


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 30), True),
        (time(0, 0), True),
        (time(7, 59), True),
        (time(8, 0), False),
        (time(12, 0), False),
    ],
)
def test_overnight_quiet_hours(local, quiet):
    assert in_quiet_hours(local, time(21), time(8)) is quiet


def test_a_message_due_at_night_waits_for_the_morning_in_the_clients_zone():
    due = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 22:30 in London, 17:30 in New York
    assert next_allowed(due, "Europe/London") == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)
    assert next_allowed(due, "America/New_York") == due
    early = datetime(2026, 1, 16, 5, 0, tzinfo=UTC)
    assert next_allowed(early, "Europe/London") == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)


def test_quiet_hours_end_at_local_eight_on_a_dst_morning():
    due = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # London springs forward at 01:00 UTC that day
    assert next_allowed(due, "Europe/London") == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 08:00 BST
