"""Scheduling's read models for the API and the pages: client search, calendar rows, and availability for one
or many clinicians (three indexed queries: appointments, time off, room; then pure arithmetic per clinician,
kept fast on 200 clinicians and 100k appointments, see docs/performance.md)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from services.scheduling.availability import free_slots, working_in_range
from services.scheduling.booking import ACTIVE_STATUSES, RuleViolation, Slot
from services.scheduling.directory import get_or_404
from services.scheduling.models import Appointment, AppointmentType, Client, Clinician, DeliveryProblem, TimeOff
from shared.errors import NotFound
from shared.statuses import AppointmentStatus

MAX_RANGE = timedelta(days=31)


def matching_clients(stmt: Select, q: str) -> Select:
    """Narrow a query of clients to those whose legal or preferred name, email or phone contains ``q`` (any
    case; a phone number also matches without its spaces)."""
    like = f"%{q.lower()}%"
    digits = "".join(ch for ch in q if ch.isdigit())
    phone = func.replace(func.replace(func.replace(Client.phone, " ", ""), "-", ""), "+", "")
    return stmt.where(
        or_(
            func.lower(Client.legal_name).like(like),
            func.lower(Client.preferred_name).like(like),
            func.lower(Client.email).like(like),
            *([phone.like(f"%{digits}%")] if len(digits) >= 3 else []),
        )
    )


def calendar_rows(
    session: Session, start: datetime, end: datetime, clinician_id: str | None = None, room_id: str | None = None
):
    """Appointments overlapping [start, end) with the client's names, the type's name and the clinician's name,
    in start order; only one clinician's or one room's when asked."""
    stmt = _calendar().where(Appointment.starts_at < end, Appointment.ends_at > start)
    if clinician_id:
        stmt = stmt.where(Appointment.clinician_id == clinician_id)
    if room_id:
        stmt = stmt.where(Appointment.room_id == room_id)
    return session.execute(stmt).all()


def needing_a_call(session: Session, now: datetime, days: int = 14):
    """Booked appointments in the coming ``days`` whose client said, from a reminder, that they cannot come:
    the desk phones them (calendar rows, soonest first)."""
    stmt = _calendar().where(
        Appointment.status == AppointmentStatus.BOOKED,
        Appointment.confirmation == "declined",
        Appointment.starts_at >= now,
        Appointment.starts_at < now + timedelta(days=days),
    )
    return session.execute(stmt).all()


def _calendar() -> Select:
    """A calendar row: the appointment, the client's preferred and legal names, the type's and clinician's names,
    and whether a message to the client is still unresolved as not delivered ("not reached": the desk calls)."""
    unreached = exists().where(DeliveryProblem.client_id == Client.id, DeliveryProblem.resolved_at.is_(None))
    return (
        select(
            Appointment,
            Client.preferred_name,
            Client.legal_name,
            AppointmentType.name,
            Clinician.name,
            unreached.label("unreached"),
        )
        .join(Client, Client.id == Appointment.client_id)
        .join(AppointmentType, AppointmentType.id == Appointment.type_id)
        .join(Clinician, Clinician.id == Appointment.clinician_id)
        .order_by(Appointment.starts_at)
    )


def find_availability(
    session: Session,
    *,
    clinician_ids: list[str] | None,
    type_id: str,
    start: datetime,
    end: datetime,
    room_id: str | None = None,
    step_minutes: int = 15,
    now: datetime | None = None,
) -> dict[str, list[Slot]]:
    if end <= start:
        raise RuleViolation("The search range must end after it starts.")
    if end - start > MAX_RANGE:
        raise RuleViolation("Search at most 31 days at a time.")
    appt_type = get_or_404(session, AppointmentType, type_id)
    stmt = select(Clinician).where(Clinician.active.is_(True))
    if clinician_ids:
        stmt = stmt.where(Clinician.id.in_(clinician_ids))
    clinicians = list(session.scalars(stmt))
    ids = [c.id for c in clinicians]
    busy: dict[str, list[Slot]] = defaultdict(list)
    for cid, s, e in session.execute(
        select(Appointment.clinician_id, Appointment.starts_at, Appointment.ends_at).where(
            Appointment.clinician_id.in_(ids),
            Appointment.starts_at < end,
            Appointment.ends_at > start,
            Appointment.status.in_(ACTIVE_STATUSES),
        )
    ):
        busy[cid].append(Slot(s, e))
    for cid, s, e in session.execute(
        select(TimeOff.clinician_id, TimeOff.starts_at, TimeOff.ends_at).where(
            TimeOff.clinician_id.in_(ids), TimeOff.starts_at < end, TimeOff.ends_at > start
        )
    ):
        busy[cid].append(Slot(s, e))
    room_busy: list[Slot] = []
    if room_id:
        room_busy = [
            Slot(s, e)
            for s, e in session.execute(
                select(Appointment.starts_at, Appointment.ends_at).where(
                    Appointment.room_id == room_id,
                    Appointment.starts_at < end,
                    Appointment.ends_at > start,
                    Appointment.status.in_(ACTIVE_STATUSES),
                )
            )
        ]
    window = Slot(start, end)
    duration, step = timedelta(minutes=appt_type.minutes), timedelta(minutes=step_minutes)
    return {
        c.id: free_slots(
            working_in_range(c.working_hours or {}, c.timezone, window),
            busy[c.id] + room_busy,
            duration,
            step,
            not_before=now,
        )
        for c in clinicians
    }


# -- who sees which clients (the ownership rules in policy.py) ------------------------------------------------

DESK_ROLES = ("frontdesk", "admin")
BUSY_FIELDS = (
    "client_id",
    "episode_id",
    "series_id",
    "telehealth_url",
    "front_desk_note",
    "cancel_reason",
    "cancelled_by",
    "override_reason",
    "session_number",
    "type_id",
    "modality",
    "confirmation",
)


def clinicians_seen_by(session: Session, principal) -> set[str] | None:
    """The clinicians whose clients ``principal`` may see: ``None`` for all (front desk, admin); a clinician
    their own; a supervisor their own and those they supervise."""
    if principal.has(*DESK_ROLES):
        return None
    seen = {principal.clinician_id} if principal.clinician_id else set()
    if "supervisor" in principal.roles and principal.clinician_id:
        seen |= set(session.scalars(select(Clinician.id).where(Clinician.supervisor_id == principal.clinician_id)))
    return seen


def visible_client(session: Session, principal, client_id: str, lock: bool = False) -> Client:
    """The client, or 404 for someone outside the principal's caseload (their existence is not confirmed)."""
    client = get_or_404(session, Client, client_id, lock=lock)
    seen = clinicians_seen_by(session, principal)
    if seen is not None and client.clinician_id not in seen:
        raise NotFound(f"No client with id {client_id}.")
    return client


def as_seen_by(appointments, seen: set[str] | None) -> list:
    """Appointments as a clinician may see them: someone else's is a busy block (time, clinician, room and
    status) with no client, notes or reasons."""
    if seen is None:
        return list(appointments)
    shown = []
    for appt in appointments:
        if appt.clinician_id in seen:
            shown.append(appt)
        else:
            shown.append(
                {
                    **{
                        c: getattr(appt, c)
                        for c in (
                            "id",
                            "clinician_id",
                            "room_id",
                            "starts_at",
                            "ends_at",
                            "status",
                            "late_cancel",
                            "version",
                        )
                    },
                    **dict.fromkeys(BUSY_FIELDS),
                }
            )
    return shown


def client_record(session: Session, client: Client, now: datetime) -> dict:
    """What the front desk's client page shows besides the client: episodes, upcoming and past appointments
    (calendar rows), delivery problems (open first), questionnaires with their invitation's fate, the message
    log (newest first) and the consent trail (oldest first)."""
    from services.scheduling.models import (
        ClientMessage,
        ConsentChange,
        DeliveryProblem,
        Episode,
        QuestionnaireView,
    )

    rows = session.execute(_calendar().where(Appointment.client_id == client.id)).all()
    problems = session.scalars(
        select(DeliveryProblem)
        .where(DeliveryProblem.client_id == client.id)
        .order_by(DeliveryProblem.resolved_at.is_not(None), DeliveryProblem.failed_at.desc())
    ).all()
    messages = session.scalars(
        select(ClientMessage).where(ClientMessage.client_id == client.id).order_by(ClientMessage.at.desc()).limit(200)
    ).all()
    invitations = {m.source_event_id: m for m in messages if m.template == INVITATION}
    return {
        "episodes": session.scalars(
            select(Episode).where(Episode.client_id == client.id).order_by(Episode.started_at.desc())
        ).all(),
        "upcoming": [r for r in rows if r[0].starts_at >= now],
        "past": list(reversed([r for r in rows if r[0].starts_at < now])),
        "problems": problems,
        "questionnaires": [
            (q, questionnaire_state(q, invitations.get(q.issued_event_id)))
            for q in session.scalars(
                select(QuestionnaireView)
                .where(QuestionnaireView.client_id == client.id)
                .order_by(QuestionnaireView.issued_at.desc())
            )
        ],
        "messages": messages,
        "consent": session.scalars(
            select(ConsentChange)
            .where(ConsentChange.client_id == client.id)
            .order_by(ConsentChange.at, ConsentChange.id)
        ).all(),
    }


INVITATION = "questionnaire_invitation"


def questionnaire_state(q, invitation) -> tuple[str, datetime | None, str]:
    """What the desk should read about one questionnaire: (words, when, kind), ``when`` to be shown in the
    practice's time zone and ``kind`` one of ``done``, ``open``, ``problem``, ``expired``. ``invitation`` is
    the invitation's message-log row if notifications has told us its fate; without one it is still queued
    (quiet hours, or on its way)."""
    if q.status == "completed":
        return "Completed", q.closed_at, "done"
    if q.status == "expired":
        return "Expired unanswered", q.closed_at, "expired"
    if q.status == "skipped":
        return f"None sent: {q.reason}", None, "problem"
    if q.opened_at is not None:
        return "Link opened, not answered yet", q.opened_at, "open"
    if invitation is None:
        return "Invitation queued", None, "open"
    if invitation.outcome == "sent":
        return "Sent, not answered yet", invitation.at, "open"
    if invitation.outcome == "cancelled":
        return f"Not sent: {invitation.reason or 'withdrawn'}", invitation.at, "problem"
    return f"Could not be delivered: {invitation.reason or 'refused'}", invitation.at, "problem"
