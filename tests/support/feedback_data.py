"""Make a feedback database hold clients with answered questionnaires, through the real submission code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.feedback import assignments, submission
from services.feedback.models import ClientRecord
from shared.db import transaction
from shared.events.envelope import Event


def phq9(total: int, item9: int = 0) -> dict:
    answers, left = {}, total - item9
    for i in range(1, 9):
        answers[str(i)] = min(3, left)
        left -= answers[str(i)]
    return {**answers, "9": item9, "difficulty": 1}


def client_with_scores(
    runtime,
    client_id: str,
    clinician_id: str,
    totals: list[int],
    name: str = "Jo",
    start: datetime | None = None,
    risk_at: int | None = None,
) -> None:
    start = start or datetime(2026, 1, 5, 10, tzinfo=UTC)
    with transaction(runtime.sessions) as s:
        s.merge(
            ClientRecord(
                id=client_id,
                preferred_name=name,
                clinician_id=clinician_id,
                episode_id=f"ep-{client_id}"[:36],
                consent_email=True,
                status="active",
            )
        )
    for n, total in enumerate(totals, start=1):
        when = start + timedelta(weeks=n - 1)
        source = Event(type="attune.scheduling.session.completed", source="scheduling", subject=client_id, data={})
        with transaction(runtime.sessions) as s:
            client = s.get(ClientRecord, client_id)
            a, _ = assignments.issue(
                s,
                client=client,
                clinician_id=clinician_id,
                measures=["phq9"],
                trigger="session",
                source=source,
                now=when,
                ttl=timedelta(hours=72),
                base_url="http://x",
                link_key=runtime.settings.link_key,
                session_number=n,
            )
            s.flush()
            answers = {"phq9": phq9(total, 1 if n == risk_at else 0)}
            scores = submission.validate(a, answers)
            assignments.claim(s, a, when)
            submission.record(s, a, scores, answers, when, record_key=runtime.settings.record_key)
