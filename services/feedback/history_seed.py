"""A practice's history at scale, written straight into feedback's database for the dashboard benchmark: clients,
their episodes, completed questionnaires and scored PHQ-9 responses (scored by the real scorer), in bulk
inserts. Never used on a practice's own database: it makes clients nobody registered."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from services.feedback import measures, scoring
from services.feedback.models import Assignment, ClientRecord, EpisodeRecord, Response
from shared.db import utcnow
from shared.statuses import ClientStatus, QuestionnaireStatus

BATCH = 5_000


def seed_history(
    sessions: sessionmaker[Session],
    questionnaires: int,
    clinician_id: str,
    caseload: int = 40,
    per_client: int = 25,
    seed: int = 1,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """``questionnaires`` completed PHQ-9s, ``per_client`` per client: ``caseload`` clients of ``clinician_id``,
    the rest spread over other (made-up) clinicians 40 clients each. Returns the questionnaires written."""
    rng = random.Random(seed)
    phq9 = measures.get("phq9")
    items = [i["id"] for i in phq9.items]
    now = utcnow()
    clients = -(-questionnaires // per_client)
    written = 0
    rows: dict[type, list[dict]] = {ClientRecord: [], EpisodeRecord: [], Assignment: [], Response: []}
    other = None
    for c in range(clients):
        if c >= caseload and (c - caseload) % 40 == 0:
            other = str(uuid.uuid4())
        clinician = clinician_id if c < caseload else other
        client_id, episode_id = str(uuid.uuid4()), str(uuid.uuid4())
        rows[ClientRecord].append({"id": client_id, "preferred_name": f"H{c}", "clinician_id": clinician,
                                   "episode_id": episode_id, "consent_email": True, "status": ClientStatus.ACTIVE,
                                   "updated_at": now})  # fmt: skip
        rows[EpisodeRecord].append({"id": episode_id, "client_id": client_id, "clinician_id": clinician,
                                    "started_at": now - timedelta(weeks=per_client)})  # fmt: skip
        severity = rng.randint(1, 3)
        for n in range(min(per_client, questionnaires - written)):
            at = now - timedelta(weeks=per_client - n)
            answers = {item: min(3, max(0, severity - n // 10 + rng.randint(-1, 1))) for item in items}
            score = scoring.score(phq9, answers)
            assignment_id = str(uuid.uuid4())
            rows[Assignment].append({"id": assignment_id, "client_id": client_id, "clinician_id": clinician,
                                     "episode_id": episode_id, "source_event_id": str(uuid.uuid4()),
                                     "trigger": "session", "session_number": n + 1, "measures": ["phq9"],
                                     "status": QuestionnaireStatus.COMPLETED, "issued_at": at, "completed_at": at,
                                     "expires_at": at + timedelta(days=7)})  # fmt: skip
            rows[Response].append(
                {"id": str(uuid.uuid4()), "assignment_id": assignment_id, "client_id": client_id,
                 "episode_id": episode_id, "measure": "phq9", "measure_version": phq9.version, "answers": answers,
                 "total": score.total, "band": score.band, "prorated": score.prorated, "session_number": n + 1,
                 "completed_at": at}
            )  # fmt: skip
            written += 1
        if len(rows[Response]) >= BATCH:
            progress(_flush(sessions, rows))
    progress(_flush(sessions, rows))
    return written


def _flush(sessions: sessionmaker[Session], rows: dict[type, list[dict]]) -> int:
    """Write what is held, in one transaction; how many questionnaires that was."""
    count = len(rows[Response])
    if not any(rows.values()):
        return 0
    with sessions() as session, session.begin():
        for model, batch in rows.items():  # parents first: the dict keeps that order
            if batch:
                session.execute(insert(model), batch)
    for batch in rows.values():
        batch.clear()
    return count
