"""Booking and editing recurring series.

Booking checks every occurrence first and reports each conflict; the caller chooses to book the rest
(``on_conflict="book_rest"``) or nothing (``"none"``, the default). Edits follow RFC 5545: *this* occurrence,
*this and following* (the series is split: the original ends before it, the rest becomes a new series), or
*all* (every future occurrence). Occurrences that already started are never rewritten. An edit that would
conflict anywhere changes nothing and reports every conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scheduling import appointments as appts
from services.scheduling.booking import BOOKED, RuleViolation, Slot
from services.scheduling.directory import get_or_404
from services.scheduling.models import Appointment, AppointmentType, Clinician, Series
from services.scheduling.recurrence import Rule, expand, shift_local, split_until

THIS, FOLLOWING, ALL = "this", "this_and_following", "all"


class SeriesConflict(RuleViolation):
    def __init__(self, message: str, report: list[dict]):
        super().__init__(message)
        self.report = report

    def problem_extra(self) -> dict:
        return {"occurrences": self.report}


@dataclass
class OccurrenceCheck:
    starts_at: datetime
    ends_at: datetime
    problem: str | None = None
    conflicts: list[dict] | None = None

    def as_dict(self) -> dict:
        return {
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "ok": self.problem is None,
            "problem": self.problem,
            "conflicts": self.conflicts or [],
        }


def check_occurrences(session: Session, req: appts.BookingRequest, rule: Rule) -> list[OccurrenceCheck]:
    clinician = get_or_404(session, Clinician, req.clinician_id)
    appt_type = get_or_404(session, AppointmentType, req.type_id)
    duration = (req.ends_at - req.starts_at) if req.ends_at else timedelta(minutes=appt_type.minutes)
    checks = []
    for start, end in expand(rule, req.starts_at, duration, clinician.timezone):
        check = OccurrenceCheck(start, end)
        try:
            appts.check_slot(
                session,
                clinician,
                Slot(start, end),
                client_id=req.client_id,
                room_id=req.room_id,
                override_reason=req.override_reason,
            )
        except appts.BookingConflict as exc:
            check.problem, check.conflicts = str(exc), exc.conflicts
        except RuleViolation as exc:
            check.problem = str(exc)
        checks.append(check)
    return checks


def book_series(
    session: Session,
    req: appts.BookingRequest,
    rule: Rule,
    now: datetime,
    *,
    on_conflict: str = "none",
    by: str | None = None,
    link_key: str,
) -> tuple[Series, list[Appointment], list[OccurrenceCheck]]:
    checks = check_occurrences(session, req, rule)
    problems = [c for c in checks if c.problem]
    if problems and on_conflict != "book_rest":
        raise SeriesConflict(
            f"{len(problems)} of {len(checks)} occurrences cannot be booked; nothing was booked.",
            [c.as_dict() for c in checks],
        )
    if len(problems) == len(checks):
        raise SeriesConflict("No occurrence of this series can be booked.", [c.as_dict() for c in checks])
    series = Series(rule=rule.as_dict())
    session.add(series)
    session.flush()
    booked = [
        appts.book(
            session,
            replace(req, starts_at=c.starts_at, ends_at=c.ends_at, series_id=series.id),
            now,
            by,
            link_key=link_key,
        )
        for c in checks
        if c.problem is None
    ]
    return series, booked, problems


def targets(session: Session, appt: Appointment, scope: str, now: datetime) -> list[Appointment]:
    if scope == THIS or appt.series_id is None:
        return [appt]
    stmt = select(Appointment).where(
        Appointment.series_id == appt.series_id, Appointment.status == BOOKED, Appointment.starts_at > now
    )
    if scope == FOLLOWING:
        stmt = stmt.where(Appointment.starts_at >= appt.starts_at)
    return list(session.scalars(stmt.order_by(Appointment.starts_at)))


def _split(session: Session, appt: Appointment, moved: list[Appointment]) -> None:
    """'This and following' becomes a series of its own; the original now ends just before it."""
    original = session.get(Series, appt.series_id)
    rule = dict(original.rule)
    original.rule = {**rule, "count": None, "until": split_until(appt.starts_at).isoformat()}
    tail = Series(rule={**rule, "count": len(moved), "until": None})
    session.add(tail)
    session.flush()
    for a in moved:
        a.series_id = tail.id


def reschedule_series(
    session: Session,
    appointment_id: str,
    scope: str,
    starts_at: datetime,
    ends_at: datetime | None,
    now: datetime,
    *,
    override_reason: str | None = None,
    by: str | None = None,
    expected_version: int | None = None,
    link_key: str,
) -> list[Appointment]:
    anchor = appts.load_for_change(session, appointment_id, expected_version)
    if scope == THIS or anchor.series_id is None:
        return [
            appts.reschedule(
                session,
                appointment_id,
                starts_at,
                ends_at,
                now,
                by=by,
                override_reason=override_reason,
                link_key=link_key,
            )
        ]
    clinician = get_or_404(session, Clinician, anchor.clinician_id)
    chosen = targets(session, anchor, scope, now)
    base = anchor if anchor in chosen else chosen[0]
    new_length = (ends_at - starts_at) if ends_at else (anchor.ends_at - anchor.starts_at)
    plan = []
    report = []
    ids = {a.id for a in chosen}
    for a in chosen:
        start = shift_local(a.starts_at, anchor.starts_at, starts_at, clinician.timezone)
        slot = Slot(start, start + new_length)
        entry = {"appointment_id": a.id, "starts_at": start.isoformat(), "ok": True, "problem": None}
        try:
            appts.check_slot(
                session,
                clinician,
                slot,
                client_id=a.client_id,
                room_id=a.room_id,
                override_reason=override_reason,
                exclude=ids,
            )
        except RuleViolation as exc:
            entry.update(ok=False, problem=str(exc), conflicts=getattr(exc, "conflicts", []))
        report.append(entry)
        plan.append((a, slot))
    if any(not e["ok"] for e in report):
        raise SeriesConflict("Some occurrences cannot move there; nothing was changed.", report)
    if scope == FOLLOWING and base is anchor:
        _split(session, anchor, chosen)
    return [
        appts.reschedule(
            session,
            a.id,
            slot.starts_at,
            slot.ends_at,
            now,
            by=by,
            room_id=None,
            override_reason=override_reason or "series edit",
            checked=True,
            link_key=link_key,
        )
        for a, slot in plan
    ]


def cancel_series(
    session: Session,
    appointment_id: str,
    scope: str,
    now: datetime,
    *,
    cancelled_by: str,
    reason: str | None,
    late_window: timedelta,
    by: str | None = None,
    expected_version: int | None = None,
) -> list[Appointment]:
    anchor = appts.load_for_change(session, appointment_id, expected_version)
    chosen = targets(session, anchor, scope, now)
    if scope == FOLLOWING and anchor.series_id is not None and anchor in chosen:
        original = session.get(Series, anchor.series_id)
        original.rule = {**original.rule, "count": None, "until": split_until(anchor.starts_at).isoformat()}
    return [
        appts.cancel(session, a.id, now, cancelled_by=cancelled_by, reason=reason, late_window=late_window, by=by)
        for a in chosen
    ]
