"""Recurring series, expanded in the practice's local time (so 10:00 stays 10:00 across DST), with RFC 5545
semantics for edits. Pure: python-dateutil's rrule and zoneinfo, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import MONTHLY, WEEKLY, rrule, weekday

from shared.errors import DomainError

MAX_OCCURRENCES = 300
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class RecurrenceError(DomainError, ValueError):
    status, title = 422, "Unprocessable Content"

    def problem_extra(self) -> dict:
        return {"errors": {"rule": [str(self)]}}


@dataclass(frozen=True)
class Rule:
    """``weekly`` every ``interval`` weeks, or ``monthly`` on the n-th (or last, -1) weekday of the first date.
    Ends after ``count`` occurrences or on ``until`` (inclusive), capped at MAX_OCCURRENCES."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: datetime | None = None

    def __post_init__(self):
        if self.freq not in ("weekly", "monthly"):
            raise RecurrenceError("freq must be weekly or monthly")
        if not 1 <= self.interval <= 52:
            raise RecurrenceError("interval must be between 1 and 52")
        if (self.count is None) == (self.until is None):
            raise RecurrenceError("give either count or until")
        if self.count is not None and not 1 <= self.count <= MAX_OCCURRENCES:
            raise RecurrenceError(f"count must be between 1 and {MAX_OCCURRENCES}")

    def as_dict(self) -> dict:
        return {
            "freq": self.freq,
            "interval": self.interval,
            "count": self.count,
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Rule:
        until = d.get("until")
        return cls(
            d["freq"],
            d.get("interval", 1),
            d.get("count"),
            datetime.fromisoformat(until) if isinstance(until, str) else until,
        )


def _nth_weekday(local: datetime) -> int:
    """Which occurrence of its weekday ``local`` is in its month: 1..4, or -1 when it is the last one."""
    nth = (local.day - 1) // 7 + 1
    return -1 if (local + timedelta(days=7)).month != local.month else nth


def expand(rule: Rule, first_start: datetime, duration: timedelta, tz_name: str) -> list[tuple[datetime, datetime]]:
    """The occurrences as aware UTC (start, end) pairs; local wall-clock time is what repeats."""
    if first_start.tzinfo is None:
        raise RecurrenceError("the first start must be timezone-aware")
    tz = ZoneInfo(tz_name)
    local = first_start.astimezone(tz).replace(tzinfo=None)
    kwargs = {"dtstart": local, "interval": rule.interval}
    if rule.freq == "weekly":
        kwargs["freq"] = WEEKLY
    else:
        kwargs.update(freq=MONTHLY, byweekday=weekday(local.weekday(), _nth_weekday(local)))
    if rule.count is not None:
        kwargs["count"] = rule.count
    else:
        kwargs["until"] = rule.until.astimezone(tz).replace(tzinfo=None)
    out = []
    for naive in rrule(**kwargs):
        if len(out) == MAX_OCCURRENCES:
            break
        start = naive.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))
        out.append((start, start + duration))
    return out


def shift_local(original: datetime, old_anchor: datetime, new_anchor: datetime, tz_name: str) -> datetime:
    """Move ``original`` the way the anchor occurrence moved, in local wall-clock terms (a 'this and following'
    edit that moves 10:00 to 11:00 moves every later 10:00 to 11:00, whatever the DST offset that day)."""
    tz = ZoneInfo(tz_name)
    delta = new_anchor.astimezone(tz).replace(tzinfo=None) - old_anchor.astimezone(tz).replace(tzinfo=None)
    moved = original.astimezone(tz).replace(tzinfo=None) + delta
    return moved.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))


def split_until(occurrence_start: datetime) -> datetime:
    """RFC 5545 'this and following': the original series now ends just before this occurrence."""
    return occurrence_start - timedelta(seconds=1)
