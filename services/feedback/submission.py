"""A client's submitted questionnaire: score each measure, compare with the past, raise alerts, emit events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback import alerts, curves, measures, rules, scoring
from services.feedback.models import Assignment, Response
from shared import sealed
from shared.events import catalog as events
from shared.messaging.outbox import emit
from shared.statuses import Severity


@dataclass
class Outcome:
    scores: list[scoring.Score]
    signals: list[rules.Signal]

    @property
    def risk(self) -> bool:
        return any(s.has_risk for s in self.scores)


def validate(assignment: Assignment, answers: dict[str, dict[str, int | None]]) -> list[scoring.Score]:
    """Score every measure or raise InvalidAnswers naming each problem as ``<measure>.<item>``."""
    problems, scores = {}, []
    for measure_id in assignment.measures:
        try:
            scores.append(scoring.score(measures.get(measure_id), answers.get(measure_id, {})))
        except scoring.InvalidAnswers as exc:
            problems.update({f"{measure_id}.{k}": v for k, v in exc.problems.items()})
    if problems:
        raise scoring.InvalidAnswers(problems)
    return scores


def _label(session_number: int | None, trigger: str) -> str:
    return "intake" if trigger == "intake" or not session_number else f"session {session_number}"


def history(session: Session, client_id: str, episode_id: str | None, measure_id: str) -> list[rules.Observation]:
    rows = session.execute(
        select(Response, Assignment.trigger)
        .join(Assignment, Assignment.id == Response.assignment_id)
        .where(Response.client_id == client_id, Response.measure == measure_id, Response.episode_id == episode_id)
        .order_by(Response.completed_at)
    ).all()
    return observations(measures.get(measure_id), rows)


def observations(m, rows, answers_of=lambda r: r.answers) -> list[rules.Observation]:
    """(response, trigger) rows of one measure, oldest first, as the rules read them (risk items flagged from
    ``answers_of(response)``)."""
    out = []
    for r, trigger in rows:
        answers = answers_of(r)
        risk = [
            {"item": ri["item"], "value": answers.get(ri["item"]), "severity": ri["severity"]}
            for ri in m.risk_items
            if (answers.get(ri["item"]) or 0) >= ri["threshold"]
        ]
        out.append(
            rules.Observation(r.session_number, r.total, r.completed_at, risk, _label(r.session_number, trigger))
        )
    return out


def expected_course(session: Session, m, intake: float):
    """The expected score at the n-th questionnaire: the practice's fitted curves where they cover it, else the
    measure's published default (see trajectories.py and curves.py)."""
    return curves.expected_course(session, m, intake)


def record(
    session: Session,
    assignment: Assignment,
    scores: list[scoring.Score],
    answers: dict[str, dict],
    now: datetime,
    *,
    record_key: str,
) -> Outcome:
    """Store the responses and act on them, in the caller's transaction (the assignment is already claimed).
    ``record_key`` (feedback's own) seals the responses into ``questionnaire.completed``, so that a restore from
    backup rebuilds them from the log."""
    signals: list[rules.Signal] = []
    stored: list[Response] = []
    for s in scores:
        m = measures.get(s.measure)
        stored.append(
            Response(
                assignment_id=assignment.id,
                client_id=assignment.client_id,
                episode_id=assignment.episode_id,
                measure=s.measure,
                measure_version=m.version,
                answers={k: v for k, v in answers[s.measure].items() if v is not None},
                total=s.total,
                band=s.band,
                prorated=s.prorated,
                session_number=assignment.session_number,
                completed_at=now,
            )
        )
        session.add(stored[-1])
        session.flush()
        past = history(session, assignment.client_id, assignment.episode_id, s.measure)
        found = rules.evaluate(m, past, expected_for=expected_course(session, m, past[0].total))
        signals += found
    emit(
        session,
        events.QUESTIONNAIRE_COMPLETED,
        {
            "assignment_id": assignment.id,
            "client_id": assignment.client_id,
            "clinician_id": assignment.clinician_id,
            "completed_at": now,
            "sealed_record": sealed.seal(record_key, json.dumps([sealed_response(r) for r in stored])),
        },
        subject=assignment.client_id,
    )
    for signal in sorted(signals, key=lambda x: Severity.most_urgent_first(x.severity)):
        alerts.apply_signal(
            session,
            client_id=assignment.client_id,
            clinician_id=assignment.clinician_id,
            signal=signal,
            now=now,
            assignment_id=assignment.id,
            record_key=record_key,
        )
    return Outcome(scores, signals)


SEALED_FIELDS = ("id", "measure", "measure_version", "answers", "total", "band", "prorated", "session_number",
                 "episode_id")  # fmt: skip


def sealed_response(r: Response) -> dict:
    return {f: getattr(r, f) for f in SEALED_FIELDS}
