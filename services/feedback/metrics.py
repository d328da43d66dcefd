"""Feedback's state as gauges (read at scrape time): questionnaires issued, completed and expired, and alerts
not yet resolved by severity. Counts only: never a client, a score or an answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.feedback.models import Alert, Assignment
from shared.metrics import counter, gauge
from shared.statuses import AlertStatus, QuestionnaireStatus, Severity


def feedback_state(session: Session, now: datetime):
    by_status = dict(session.execute(select(Assignment.status, func.count()).group_by(Assignment.status)).all())
    issued = session.scalar(select(func.count()).where(Assignment.token_hash.is_not(None)))
    totals = (
        ("attune_questionnaires_issued", "Questionnaires sent to clients with a link", issued),
        (
            "attune_questionnaires_completed",
            "Questionnaires clients completed",
            by_status.get(QuestionnaireStatus.COMPLETED, 0),
        ),
        (
            "attune_questionnaires_expired",
            "Questionnaires that expired unanswered",
            by_status.get(QuestionnaireStatus.EXPIRED, 0),
        ),
    )
    for name, documentation, value in totals:
        family = counter(name, documentation)
        family.add_metric([], value)
        yield family
    open_alerts = gauge("attune_alerts_open", "Alerts not yet resolved, by severity and status", ["severity", "status"])
    rows = session.execute(
        select(Alert.severity, Alert.status, func.count())
        .where(Alert.status != AlertStatus.RESOLVED)
        .group_by(Alert.severity, Alert.status)
    ).all()
    found = {(severity, status): count for severity, status, count in rows}
    for severity in Severity:
        for status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED):
            open_alerts.add_metric([severity.value, status.value], found.get((severity, status), 0))
    yield open_alerts
