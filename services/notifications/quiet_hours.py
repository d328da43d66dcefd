"""Quiet hours for client messages, in the client's own timezone. Pure."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:  # e.g. 13:00-14:00
        return start <= local < end
    return local >= start or local < end  # wraps midnight, e.g. 21:00-08:00


def next_allowed(due: datetime, tz_name: str, start: time = time(21), end: time = time(8)) -> datetime:
    """``due`` itself when it falls outside quiet hours, else the end of those quiet hours (same zone rules,
    so DST days are handled by zoneinfo)."""
    tz = ZoneInfo(tz_name)
    local = due.astimezone(tz)
    if not in_quiet_hours(local.timetz().replace(tzinfo=None), start, end):
        return due
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tz).astimezone(due.tzinfo)
