"""After a restore from backup: feedback's own events since the backup, written back into its database before
its worker starts. A questionnaire issued after the backup comes back with the same id and the same link (the
link is on the bus, sealed with the key feedback holds), so the client's email still works and consuming the
session again issues nothing new; an answer given after the backup comes back with its item answers and
scores, and an alert raised after it comes back open with its explanation: both ride on feedback's own
events sealed with ``FEEDBACK_RECORD_KEY``, a key no other service holds. (Events written before sealing
existed bring back the questionnaire as completed without answers, and the alert with a note saying why it
cannot explain itself.) Nothing here emits an event: each of these was emitted already."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from services.feedback.assignments import hash_token
from services.feedback.models import Alert, Assignment, ClientRecord, Response
from shared import sealed
from shared.events.envelope import Event
from shared.statuses import AlertStatus, QuestionnaireStatus

RESTORED_ALERT = (
    "Restored from the event log after the practice's data was restored from a backup. The answers that raised "
    "this alert are not held: contact the client and review with them."
)


def _client(session: Session, client_id: str, clinician_id: str) -> ClientRecord:
    """The client's projection, or a stand-in that the client's own events (consumed again) fill in."""
    client = session.get(ClientRecord, client_id)
    if client is None:
        client = ClientRecord(id=client_id, preferred_name="(restoring)", clinician_id=clinician_id)
        session.add(client)
        session.flush()
    return client


def _assignment(session: Session, event: Event, status: str, **extra) -> str:
    d = event.data
    if session.get(Assignment, d.assignment_id) is not None:
        return "already held"
    client = _client(session, d.client_id, d.clinician_id)
    session.add(
        Assignment(
            id=d.assignment_id,
            client_id=d.client_id,
            clinician_id=d.clinician_id,
            episode_id=client.episode_id,
            source_event_id=event.causationid or event.id,  # the event that called for it: consumed again, a no-op
            trigger=d.trigger,
            status=status,
            issued_at=event.time,
            **extra,
        )
    )
    return "restored"


def _opened(settings, value: str | None):
    """A value feedback sealed with its record key, or None (an older event, or another key)."""
    if not value:
        return None
    try:
        return json.loads(sealed.unseal(settings.record_key, value))
    except sealed.SealError:
        return None


def _responses(session: Session, assignment: Assignment, d, settings) -> None:
    """The answers and scores sealed in ``questionnaire.completed``, back as they were stored."""
    for r in _opened(settings, getattr(d, "sealed_record", None)) or []:
        if session.get(Response, r["id"]) is None:
            session.add(Response(**r, assignment_id=assignment.id, client_id=assignment.client_id,
                                 completed_at=d.completed_at))  # fmt: skip


def recover(session: Session, event: Event, settings) -> str:
    """Apply one of feedback's own events; returns ``restored``, ``already held`` or ``not restorable``."""
    d, name = event.data, event.name
    if name == "questionnaire.issued":
        url = sealed.unseal(settings.link_key, d.sealed_url) if d.sealed_url else d.questionnaire_url
        token = url.rsplit("/q/", 1)[1] if url and "/q/" in url else None
        return _assignment(
            session, event, QuestionnaireStatus.OPEN, measures=d.measures, expires_at=d.expires_at,
            token_hash=hash_token(token) if token else None,
        )  # fmt: skip
    if name == "questionnaire.skipped":
        status = QuestionnaireStatus.NO_CONSENT if "consent" in d.reason else QuestionnaireStatus.SKIPPED
        return _assignment(session, event, status, measures=[], skip_reason=d.reason)
    assignment = session.get(Assignment, getattr(d, "assignment_id", None) or "")
    if name in ("questionnaire.completed", "questionnaire.expired", "questionnaire.opened"):
        if assignment is None:
            return "not restorable"
        if name == "questionnaire.opened":
            assignment.opened_at = assignment.opened_at or d.opened_at
        elif name == "questionnaire.completed" and assignment.completed_at is None:
            assignment.status, assignment.completed_at = QuestionnaireStatus.COMPLETED, d.completed_at
            _responses(session, assignment, d, settings)
        elif name == "questionnaire.expired" and assignment.status == QuestionnaireStatus.OPEN:
            assignment.status = QuestionnaireStatus.EXPIRED
        else:
            return "already held"
        return "restored"
    if name in ("alert.raised", "alert.escalated"):
        alert = session.get(Alert, d.alert_id)
        if alert is None:
            _client(session, d.client_id, d.clinician_id)
            detail = _opened(settings, getattr(d, "sealed_detail", None)) or {}
            session.add(
                Alert(
                    id=d.alert_id, client_id=d.client_id, clinician_id=d.clinician_id, rule=d.rule,
                    measure=detail.get("measure") or "unknown", severity=d.severity, status=AlertStatus.OPEN,
                    explanation=detail.get("explanation") or RESTORED_ALERT, assignment_id=detail.get("assignment_id"),
                    course_model=detail.get("course_model"), opened_at=d.raised_at, updated_at=event.time,
                )
            )  # fmt: skip
            return "restored"
        if name == "alert.escalated" and alert.severity != d.severity:
            alert.severity, alert.escalated_at, alert.updated_at = d.severity, event.time, event.time
            return "restored"
        return "already held"
    if name == "alert.resolved":
        alert = session.get(Alert, d.alert_id)
        if alert is None:
            return "not restorable"
        if alert.status != AlertStatus.RESOLVED:
            alert.status, alert.resolved_at = AlertStatus.RESOLVED, event.time
            return "restored"
        return "already held"
    return "not restorable"  # progress.shared: the link cannot be rebuilt; the therapist shares again
