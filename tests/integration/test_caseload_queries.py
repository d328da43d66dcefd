"""The caseload reads every client's facts in a few batched queries; a client's own page reads them one client at
a time (``status_for``, ``attendance``). Both must tell a therapist the same thing about every client, whatever
the history: several episodes, risk answered earlier or only now, questionnaires sent and never answered."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from services.feedback import measures, queries, scoring
from services.feedback.models import Assignment, ClientRecord, EpisodeRecord, Response
from shared.db import transaction
from shared.statuses import QuestionnaireStatus
from tests.support.apps import service_runtime

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def _history(session, rng: random.Random, client_id: str, clinician: str) -> None:
    phq9 = measures.get("phq9")
    episodes = [str(uuid.uuid4()) for _ in range(rng.randint(1, 3))]
    session.add(ClientRecord(id=client_id, preferred_name=client_id, clinician_id=clinician, episode_id=episodes[-1]))
    session.flush()
    at = NOW - timedelta(weeks=40)
    for episode in episodes:
        session.add(EpisodeRecord(id=episode, client_id=client_id, clinician_id=clinician, started_at=at))
        for n in range(rng.randint(0, 6)):
            at += timedelta(weeks=1)
            answered = rng.random() < 0.8
            unanswered = rng.choice([QuestionnaireStatus.OPEN, QuestionnaireStatus.EXPIRED])
            assignment = Assignment(
                client_id=client_id, clinician_id=clinician, episode_id=episode, source_event_id=str(uuid.uuid4()),
                trigger=rng.choice(["session", "session", "intake"]), session_number=n + 1, measures=["phq9"],
                status=QuestionnaireStatus.COMPLETED if answered else unanswered, issued_at=at,
                completed_at=at if answered else None, expires_at=at + timedelta(days=7),
            )  # fmt: skip
            session.add(assignment)
            session.flush()
            if answered:
                answers = {i["id"]: rng.randint(0, 3) for i in phq9.items}
                answers["9"] = rng.choice([0, 0, 0, 0, 1, 2])  # risk, now and then, at any point
                score = scoring.score(phq9, answers)
                session.add(
                    Response(
                        assignment_id=assignment.id,
                        client_id=client_id,
                        episode_id=episode,
                        measure="phq9",
                        measure_version=phq9.version,
                        answers=answers,
                        total=score.total,
                        band=score.band,
                        session_number=n + 1,
                        completed_at=at,
                    )  # fmt: skip
                )


def test_the_caseload_says_what_each_clients_own_page_says(db_url, monkeypatch):
    runtime = service_runtime("feedback", db_url)
    rng = random.Random(7)
    with transaction(runtime.sessions) as s:
        for n in range(40):
            _history(s, rng, f"client-{n:02d}", "dr-k")
    viewer = queries.Viewer(principal=None, clinicians=frozenset({"dr-k"}))
    with runtime.sessions() as s:
        rows = queries.caseload(s, viewer)
        assert len(rows) == 40
        statuses = set()
        for row in rows:
            status, last = queries.status_for(s, row.client)
            attended, _ = queries.attendance(s, row.client)
            assert (row.status, row.last_scores, row.attended) == (status, last, attended), row.client.id
            statuses.add(status)
        assert {"risk", "no_data"} <= statuses  # the history made both, and more than those
        assert len(statuses) >= 3
        monkeypatch.setattr(queries, "ANSWERS_CHUNK", 7)  # a caseload larger than one query's ids: the same
        assert [(r.client.id, r.status) for r in queries.caseload(s, viewer)] == [(r.client.id, r.status) for r in rows]
