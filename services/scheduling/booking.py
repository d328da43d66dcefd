"""Booking rules, free of Flask, SQL and Kafka: lifecycle transitions, overlaps, working hours, late cancels."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.errors import DomainError
from shared.statuses import AppointmentStatus

BOOKED, CHECKED_IN, COMPLETED, CANCELLED, NO_SHOW = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.COMPLETED,
    AppointmentStatus.CANCELLED,
    AppointmentStatus.NO_SHOW,
)
STATUSES = tuple(AppointmentStatus)
ACTIVE_STATUSES = (BOOKED, CHECKED_IN, COMPLETED)  # these hold their slot; cancelled and no-show free it
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# How early before the start a client may be checked in.
CHECK_IN_EARLIEST = timedelta(hours=2)


class RuleViolation(DomainError):
    """A request that breaks a rule (409); the message is written for the person at the front desk."""


class IllegalTransition(RuleViolation):
    pass


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime

    def __post_init__(self):
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("slot times must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise RuleViolation("An appointment must end after it starts.")

    def overlaps(self, other: Slot) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


def check_transition(status: str, action: str, slot: Slot, now: datetime) -> str:
    """Return the status ``action`` leads to, or raise ``IllegalTransition`` saying why not."""
    if action == "check_in":
        if status != BOOKED:
            raise IllegalTransition(f"Only a booked appointment can be checked in; this one is {_label(status)}.")
        if now < slot.starts_at - CHECK_IN_EARLIEST:
            raise IllegalTransition("It is too early to check in: check-in opens two hours before the start.")
        if now > slot.ends_at:
            raise IllegalTransition("This appointment has already ended; mark it completed or a no-show instead.")
        return CHECKED_IN
    if action == "complete":
        if status not in (BOOKED, CHECKED_IN):
            raise IllegalTransition(f"A {_label(status)} appointment cannot be completed.")
        if now < slot.starts_at:
            raise IllegalTransition("An appointment cannot be completed before it starts.")
        return COMPLETED
    if action == "cancel":
        if status != BOOKED:
            raise IllegalTransition(f"A {_label(status)} appointment cannot be cancelled.")
        return CANCELLED
    if action == "no_show":
        if status != BOOKED:
            raise IllegalTransition(f"A {_label(status)} appointment cannot be marked as a no-show.")
        if now < slot.starts_at:
            raise IllegalTransition("A client cannot be a no-show before the appointment starts.")
        return NO_SHOW
    if action == "reschedule":
        if status != BOOKED:
            raise IllegalTransition(f"A {_label(status)} appointment cannot be moved.")
        return BOOKED
    raise IllegalTransition(f"Unknown action {action!r}.")


def _label(status: str) -> str:
    return status.replace("_", "-")


def is_late_cancel(now: datetime, starts_at: datetime, window: timedelta) -> bool:
    return starts_at - now < window


def conflicts(slot: Slot, existing: Iterable[Slot]) -> list[Slot]:
    return [other for other in existing if slot.overlaps(other)]


def working_blocks(day_local: datetime, hours: dict[str, list[list[str]]], tz: ZoneInfo) -> list[Slot]:
    """The clinician's working blocks on the local calendar day of ``day_local``, as aware UTC-comparable slots."""
    key = WEEKDAYS[day_local.weekday()]
    blocks = []
    for start_s, end_s in hours.get(key, []):
        start = datetime.combine(day_local.date(), time.fromisoformat(start_s), tz)
        end = datetime.combine(day_local.date(), time.fromisoformat(end_s), tz)
        blocks.append(Slot(start, end))
    return blocks


def outside_working_hours(slot: Slot, hours: dict, tz_name: str, time_off: Iterable[Slot]) -> str | None:
    """Why ``slot`` cannot be booked for this clinician, or None when it fits the calendar."""
    tz = ZoneInfo(tz_name)
    local_start = slot.starts_at.astimezone(tz)
    blocks = working_blocks(local_start, hours, tz)
    if not any(b.starts_at <= slot.starts_at and slot.ends_at <= b.ends_at for b in blocks):
        hours_text = ", ".join(f"{b.starts_at:%H:%M}–{b.ends_at:%H:%M}" for b in blocks) or "not working"
        return f"Outside the clinician's working hours on {local_start:%A} ({hours_text})."
    for off in time_off:
        if slot.overlaps(off):
            return "The clinician has time off then."
    return None


def validate_working_hours(hours: dict) -> dict[str, list[list[str]]]:
    """Normalise ``{"mon": [["09:00", "12:00"], ...]}``; raise ValueError naming the bad day."""
    clean: dict[str, list[list[str]]] = {}
    for day, blocks in hours.items():
        if day not in WEEKDAYS:
            raise ValueError(f"{day}: not a weekday (use {', '.join(WEEKDAYS)})")
        parsed = []
        for block in blocks:
            try:
                start, end = (time.fromisoformat(v) for v in block)
            except (TypeError, ValueError):
                raise ValueError(f'{day}: each block is ["HH:MM", "HH:MM"]') from None
            if end <= start:
                raise ValueError(f"{day}: a block must end after it starts")
            parsed.append((start, end))
        parsed.sort()
        for (_, prev_end), (next_start, _) in zip(parsed, parsed[1:], strict=False):
            if next_start < prev_end:
                raise ValueError(f"{day}: blocks overlap")
        clean[day] = [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in parsed]
    return clean
