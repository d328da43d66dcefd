"""Free slots: working hours minus time off, appointments and (optionally) a room's bookings. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.scheduling.booking import Slot, working_blocks


def merge(busy: Iterable[Slot]) -> list[Slot]:
    out: list[Slot] = []
    for slot in sorted(busy, key=lambda s: s.starts_at):
        if out and slot.starts_at <= out[-1].ends_at:
            if slot.ends_at > out[-1].ends_at:
                out[-1] = Slot(out[-1].starts_at, slot.ends_at)
        else:
            out.append(slot)
    return out


def subtract(block: Slot, busy: list[Slot]) -> list[Slot]:
    """``block`` minus the (merged, sorted) ``busy`` intervals."""
    free, cursor = [], block.starts_at
    for b in busy:
        if b.ends_at <= cursor or b.starts_at >= block.ends_at:
            continue
        if b.starts_at > cursor:
            free.append(Slot(cursor, b.starts_at))
        cursor = max(cursor, b.ends_at)
    if cursor < block.ends_at:
        free.append(Slot(cursor, block.ends_at))
    return free


def free_slots(
    working: list[Slot], busy: Iterable[Slot], duration: timedelta, step: timedelta, not_before: datetime | None = None
) -> list[Slot]:
    """Start times every ``step`` from the start of each working block where ``duration`` fits entirely."""
    merged = merge(busy)
    slots = []
    for block in working:
        for gap in subtract(block, merged):
            offset = (gap.starts_at - block.starts_at) % step
            start = gap.starts_at if not offset else gap.starts_at + (step - offset)
            while start + duration <= gap.ends_at:
                if not_before is None or start >= not_before:
                    slots.append(Slot(start, start + duration))
                start += step
    return slots


def working_in_range(hours: dict, tz_name: str, window: Slot) -> list[Slot]:
    """The clinician's working blocks that fall in ``window`` (local days, clipped to the window)."""
    tz = ZoneInfo(tz_name)
    day = window.starts_at.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    blocks = []
    while day < window.ends_at:
        for b in working_blocks(day, hours, tz):
            start, end = max(b.starts_at, window.starts_at), min(b.ends_at, window.ends_at)
            if start < end:
                blocks.append(Slot(start, end))
        day = (day + timedelta(days=1, hours=3)).replace(hour=0)  # the next local midnight, DST-proof
    return blocks
