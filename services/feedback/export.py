"""Everything feedback holds about one client, to hand back: questionnaires (issued, answered, skipped,
expired), every answer and score, alerts and what was done about them; as tables, and as FHIR R4
QuestionnaireResponses with their total-score Observations (``fhir_export``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback.fhir_export import questionnaire_response, total_observation
from services.feedback.models import Alert, Assignment, Response


def _iso(value):
    return value.isoformat() if value is not None else None


def _responses(session: Session, client_id: str) -> list[Response]:
    return list(
        session.scalars(select(Response).where(Response.client_id == client_id).order_by(Response.completed_at))
    )


def tables(session: Session, client_id: str) -> dict[str, list[dict]]:
    return {
        "questionnaires": [{
            "assignment_id": a.id, "measures": ";".join(a.measures or []), "trigger": a.trigger, "status": a.status,
            "issued_at": _iso(a.issued_at), "expires_at": _iso(a.expires_at), "opened_at": _iso(a.opened_at),
            "completed_at": _iso(a.completed_at), "skip_reason": a.skip_reason, "appointment_id": a.appointment_id,
            "session_number": a.session_number,
        } for a in session.scalars(
            select(Assignment).where(Assignment.client_id == client_id).order_by(Assignment.issued_at)
        )],
        "answers": [{
            "response_id": r.id, "assignment_id": r.assignment_id, "measure": r.measure, "item": item,
            "answer": value, "completed_at": _iso(r.completed_at),
        } for r in _responses(session, client_id) for item, value in sorted(r.answers.items())],
        "scores": [{
            "response_id": r.id, "measure": r.measure, "total": r.total, "band": r.band, "prorated": r.prorated,
            "session_number": r.session_number, "completed_at": _iso(r.completed_at),
        } for r in _responses(session, client_id)],
        "alerts": [{
            "alert_id": a.id, "rule": a.rule, "measure": a.measure, "severity": a.severity, "status": a.status,
            "explanation": a.explanation, "opened_at": _iso(a.opened_at), "acknowledged_at": _iso(a.acknowledged_at),
            "acknowledgement_note": a.acknowledgement_note, "resolved_at": _iso(a.resolved_at),
            "resolution_note": a.resolution_note,
        } for a in session.scalars(select(Alert).where(Alert.client_id == client_id).order_by(Alert.opened_at))],
    }  # fmt: skip


def fhir(session: Session, client_id: str) -> list[dict]:
    resources = []
    for r in _responses(session, client_id):
        resources += [questionnaire_response(client_id, r), total_observation(client_id, r)]
    return resources
