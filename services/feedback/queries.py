"""Read models for the dashboard and the API: a caseload at a glance, one client's progress, alerts. Who may
see what is decided here, once: a clinician sees their own clients; a supervisor or admin sees all; the front
desk sees only whether questionnaires were completed, never scores or answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback import measures, rules, submission
from services.feedback.chart import Point
from services.feedback.models import Alert, Assignment, ClientRecord, Response
from shared.auth import Principal
from shared.errors import NotFound
from shared.statuses import AlertStatus, ClientStatus, QuestionnaireStatus, Severity

CLINICAL = ("clinician", "supervisor", "admin")
STATUS_ORDER = {s: i for i, s in enumerate(rules.STATUSES)}


def visible_client(session: Session, principal: Principal, client_id: str) -> ClientRecord:
    client = session.get(ClientRecord, client_id)
    # Someone else's client is "not found" too (not 403): do not confirm that they exist.
    if client is None or (principal.role == "clinician" and client.clinician_id != principal.clinician_id):
        raise NotFound(f"No client with id {client_id}.")
    return client


def visible_alert(session: Session, principal: Principal, alert_id: str) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or (principal.role == "clinician" and alert.clinician_id != principal.clinician_id):
        raise NotFound(f"No alert with id {alert_id}.")
    return alert


@dataclass
class CaseloadRow:
    client: ClientRecord
    status: str
    last_scores: dict[str, dict]  # measure -> {"total", "band", "n"}
    questionnaires: int
    open_alerts: list[Alert] = field(default_factory=list)

    @property
    def worst_alert(self) -> str | None:
        return max((a.severity for a in self.open_alerts), key=lambda s: Severity(s).rank, default=None)


def measure_history(session: Session, client: ClientRecord, measure_id: str) -> list[rules.Observation]:
    return submission.history(session, client.id, client.episode_id, measure_id)


def status_for(session: Session, client: ClientRecord) -> tuple[str, dict]:
    """The worst status across the client's measures this episode, and the last score of each."""
    found = session.scalars(
        select(Response.measure)
        .where(Response.client_id == client.id, Response.episode_id == client.episode_id)
        .distinct()
    )
    worst, last = "no_data", {}
    for measure_id in found:
        m = measures.get(measure_id)
        history = measure_history(session, client, measure_id)
        expected = submission.expected_course(session, m, history[0].total)(len(history)) if history else None
        status = rules.client_status(m, history, expected)
        if STATUS_ORDER[status] < STATUS_ORDER[worst]:
            worst = status
        if history:
            latest = session.scalar(
                select(Response)
                .where(Response.client_id == client.id, Response.measure == measure_id)
                .order_by(Response.completed_at.desc())
                .limit(1)
            )
            last[measure_id] = {"total": latest.total, "band": latest.band, "n": len(history)}
    return worst, last


def caseload(session: Session, principal: Principal) -> list[CaseloadRow]:
    stmt = select(ClientRecord).where(ClientRecord.status == ClientStatus.ACTIVE)
    if principal.role == "clinician":
        stmt = stmt.where(ClientRecord.clinician_id == principal.clinician_id)
    rows = []
    for client in session.scalars(stmt):
        status, last = status_for(session, client)
        open_alerts = list(
            session.scalars(select(Alert).where(Alert.client_id == client.id, Alert.status != AlertStatus.RESOLVED))
        )
        count = (
            session.query(Assignment)
            .filter(Assignment.client_id == client.id, Assignment.status == QuestionnaireStatus.COMPLETED)
            .count()
        )
        rows.append(CaseloadRow(client, status, last, count, open_alerts))
    rows.sort(
        key=lambda r: (
            -Severity(r.worst_alert).rank if r.worst_alert else 1,
            STATUS_ORDER[r.status],
            r.client.preferred_name.lower(),
        )
    )
    return rows


def progress(session: Session, client: ClientRecord, measure_id: str) -> dict:
    m = measures.get(measure_id)
    history = measure_history(session, client, measure_id)
    alerts_by_assignment = {
        a.assignment_id: a.rule
        for a in session.scalars(select(Alert).where(Alert.client_id == client.id, Alert.measure == measure_id))
    }
    responses = session.scalars(
        select(Response)
        .where(
            Response.client_id == client.id, Response.measure == measure_id, Response.episode_id == client.episode_id
        )
        .order_by(Response.completed_at)
    ).all()
    points = [
        Point(i, r.total, obs.label, alerts_by_assignment.get(r.assignment_id))
        for i, (r, obs) in enumerate(zip(responses, history, strict=True), start=1)
    ]
    expected = []
    if history:
        expected_for = submission.expected_course(session, m, history[0].total)
        for n in range(1, max(len(history) + 2, 6)):
            e = expected_for(n)
            if e is not None:
                expected.append((n, e.expected, e.boundary))
    return {"measure": m, "points": points, "expected": expected, "responses": responses}
