"""Raising, escalating, acknowledging and resolving alerts: one open alert per client and rule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback.models import Alert
from services.feedback.rules import Signal
from shared import sealed
from shared.events import catalog as events
from shared.messaging.outbox import emit
from shared.statuses import AlertStatus, Severity


def _payload(alert: Alert, when: datetime, record_key: str | None = None) -> dict:
    payload = {
        "alert_id": alert.id,
        "client_id": alert.client_id,
        "clinician_id": alert.clinician_id,
        "rule": alert.rule,
        "severity": alert.severity,
        "raised_at": when,
    }
    if record_key:
        detail = {"measure": alert.measure, "explanation": alert.explanation, "assignment_id": alert.assignment_id,
                  "course_model": alert.course_model}  # fmt: skip
        payload["sealed_detail"] = sealed.seal(record_key, json.dumps(detail))
    return payload


def apply_signal(
    session: Session,
    *,
    client_id: str,
    clinician_id: str,
    signal: Signal,
    now: datetime,
    assignment_id: str | None = None,
    record_key: str | None = None,
) -> tuple[Alert, str]:
    """Open an alert for ``signal``, or escalate/refresh the open one; returns the alert and what happened.
    ``record_key`` seals the alert's why into its event, for feedback's own restore."""
    current = session.scalar(
        select(Alert).where(
            Alert.client_id == client_id, Alert.rule == signal.rule, Alert.status != AlertStatus.RESOLVED
        )
    )
    if current is None:
        alert = Alert(
            client_id=client_id,
            clinician_id=clinician_id,
            rule=signal.rule,
            measure=signal.measure,
            severity=signal.severity,
            explanation=signal.explanation,
            assignment_id=assignment_id,
            course_model=signal.model,
            opened_at=now,
            updated_at=now,
        )
        session.add(alert)
        session.flush()
        emit(session, events.ALERT_RAISED, _payload(alert, now, record_key), subject=client_id)
        return alert, "raised"
    current.explanation = signal.explanation
    current.assignment_id = assignment_id
    current.course_model = signal.model or current.course_model
    current.updated_at = now
    if Severity(signal.severity).rank > Severity(current.severity).rank or signal.rule == "risk_item":
        previous = current.severity
        current.severity = max(signal.severity, previous, key=lambda s: Severity(s).rank)
        current.status = AlertStatus.OPEN  # a new risk answer reopens an acknowledged alert
        emit(
            session,
            events.ALERT_ESCALATED,
            {**_payload(current, now), "previous_severity": previous},
            subject=client_id,
        )
        return current, "escalated"
    return current, "unchanged"


def acknowledge(
    session: Session, alert: Alert, by: str, now: datetime, *, clinician_id: str | None = None, note: str | None = None
) -> Alert:
    """``clinician_id``: who acknowledged, when they are a clinician (a supervisor acting on the therapist's
    behalf names themselves, and may say why in ``note``)."""
    if alert.status == AlertStatus.OPEN:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at, alert.acknowledged_by, alert.updated_at = now, by, now
        alert.acknowledged_by_clinician, alert.acknowledgement_note = clinician_id, note or None
    return alert


def resolve(
    session: Session, alert: Alert, by: str, note: str, now: datetime, *, clinician_id: str | None = None
) -> Alert:
    if alert.status == AlertStatus.RESOLVED:
        return alert
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at, alert.resolved_by, alert.resolution_note, alert.updated_at = now, by, note, now
    alert.resolved_by_clinician = clinician_id
    emit(
        session,
        events.ALERT_RESOLVED,
        {
            "alert_id": alert.id,
            "client_id": alert.client_id,
            "clinician_id": alert.clinician_id,
            "rule": alert.rule,
            "resolved_at": now,
        },
        subject=alert.client_id,
    )
    return alert


def escalate_unacknowledged(session: Session, now: datetime, after: timedelta) -> int:
    """Urgent alerts nobody acknowledged within ``after``: emit ``alert.escalated`` (reason
    ``unacknowledged``) once each, so the therapist, their supervisor and the on-call address hear again."""
    due = session.scalars(
        select(Alert).where(
            Alert.severity == Severity.URGENT,
            Alert.status == AlertStatus.OPEN,
            Alert.escalated_at.is_(None),
            Alert.opened_at <= now - after,
        )
    ).all()
    for alert in due:
        alert.escalated_at = alert.updated_at = now
        emit(
            session,
            events.ALERT_ESCALATED,
            {**_payload(alert, now), "previous_severity": alert.severity, "reason": "unacknowledged"},
            subject=alert.client_id,
        )
    return len(due)


def therapist_unreached(session: Session, alert_id: str, at: datetime) -> None:
    """The alert notice could not be delivered to the therapist: the dashboard says so on the alert."""
    alert = session.get(Alert, alert_id)
    if alert is not None and alert.therapist_unreached_at is None:
        alert.therapist_unreached_at = at
