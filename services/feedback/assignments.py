"""Questionnaire assignments: created once per triggering event, reached by a single-use expiring link.

The link token has 256 bits of randomness and is stored only as its SHA-256, so a copy of the database
cannot be used to answer a client's questionnaire.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.feedback.models import Assignment, ClientRecord
from shared import sealed
from shared.events import catalog as events
from shared.events.envelope import Event
from shared.messaging.outbox import emit
from shared.statuses import QuestionnaireStatus


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session,
    *,
    client: ClientRecord,
    clinician_id: str,
    measures: list[str],
    trigger: str,
    source: Event,
    now: datetime,
    ttl: timedelta,
    base_url: str,
    link_key: str,
    appointment_id: str | None = None,
    session_number: int | None = None,
    skip_reason: str | None = None,
    in_the_room: bool = False,
) -> tuple[Assignment, str | None]:
    """Create the assignment for ``source`` and emit ``questionnaire.issued``, or record why not (the plan's
    ``skip_reason``, or no consent): staff see every skip. Returns the assignment and its link token (None when
    skipped). ``in_the_room``: filled in on a practice tablet, so no consent to messages is needed and the
    event tells notifications not to send it."""
    held = session.scalar(select(Assignment).where(Assignment.source_event_id == source.id))
    if held is not None:  # restored from the event log after a restore from backup: issued already, once
        held.appointment_id = held.appointment_id or appointment_id
        held.session_number = held.session_number or session_number
        return held, None
    assignment = Assignment(
        client_id=client.id,
        clinician_id=clinician_id,
        episode_id=client.episode_id,
        appointment_id=appointment_id,
        source_event_id=source.id,
        trigger=trigger,
        session_number=session_number,
        measures=measures,
        issued_at=now,
    )
    if skip_reason:
        assignment.status, assignment.skip_reason, assignment.measures = QuestionnaireStatus.SKIPPED, skip_reason, []
        return _skipped(session, assignment, source), None
    if not (client.consent_email or client.consent_sms or in_the_room):
        assignment.status = QuestionnaireStatus.NO_CONSENT  # visible to staff: no questionnaire went out, and why
        assignment.skip_reason = "the client has not consented to questionnaires by email or text"
        return _skipped(session, assignment, source), None
    token = secrets.token_urlsafe(32)
    assignment.token_hash = hash_token(token)
    assignment.expires_at = now + ttl
    session.add(assignment)
    session.flush()
    emit(
        session,
        events.QUESTIONNAIRE_ISSUED,
        {
            "assignment_id": assignment.id,
            "client_id": client.id,
            "clinician_id": clinician_id,
            "measures": measures,
            "sealed_url": sealed.seal(link_key, f"{base_url}/q/{token}"),
            "expires_at": assignment.expires_at,
            "trigger": trigger,
            "delivery": "kiosk" if in_the_room else "message",
        },
        subject=client.id,
        causation=source,
    )
    return assignment, token


def _skipped(session: Session, assignment: Assignment, source) -> Assignment:
    """Record a skip and announce it (``questionnaire.skipped``) so the front desk sees why nothing went."""
    session.add(assignment)
    session.flush()
    emit(
        session,
        events.QUESTIONNAIRE_SKIPPED,
        {
            "assignment_id": assignment.id,
            "client_id": assignment.client_id,
            "clinician_id": assignment.clinician_id,
            "trigger": assignment.trigger,
            "reason": assignment.skip_reason[:200],
            "skipped_at": assignment.issued_at,
        },
        subject=assignment.client_id,
        causation=source,
    )
    return assignment


def mark_opened(session: Session, assignment: Assignment, now: datetime) -> None:
    """The first time the link's form is shown: record it and tell the front desk (``questionnaire.opened``)."""
    if assignment.opened_at is not None:
        return
    assignment.opened_at = now
    emit(
        session,
        events.QUESTIONNAIRE_OPENED,
        {
            "assignment_id": assignment.id,
            "client_id": assignment.client_id,
            "clinician_id": assignment.clinician_id,
            "opened_at": now,
        },
        subject=assignment.client_id,
    )


def find_open(session: Session, token: str, now: datetime) -> Assignment | None:
    if not token or len(token) > 100:
        return None
    assignment = session.scalar(select(Assignment).where(Assignment.token_hash == hash_token(token)))
    if assignment is None or assignment.status != QuestionnaireStatus.OPEN or assignment.expires_at <= now:
        return None
    return assignment


def claim(session: Session, assignment: Assignment, now: datetime) -> bool:
    """Mark the assignment used; False when a concurrent submit got there first (single use)."""
    result = session.execute(
        update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.status == QuestionnaireStatus.OPEN)
        .values(status=QuestionnaireStatus.COMPLETED, completed_at=now)
    )
    return result.rowcount == 1


def expire_due(session: Session, now: datetime, limit: int = 200) -> int:
    """Expire open assignments past their time and emit ``questionnaire.expired`` for each."""
    due = session.scalars(
        select(Assignment)
        .where(Assignment.status == QuestionnaireStatus.OPEN, Assignment.expires_at <= now)
        .limit(limit)
    ).all()
    for a in due:
        a.status = QuestionnaireStatus.EXPIRED
        emit(
            session,
            events.QUESTIONNAIRE_EXPIRED,
            {
                "assignment_id": a.id,
                "client_id": a.client_id,
                "clinician_id": a.clinician_id,
                "expired_at": now,
            },
            subject=a.client_id,
        )
    return len(due)
