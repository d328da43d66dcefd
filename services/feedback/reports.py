"""Outcome reports from the database: episodes that ended in a period, their first and last PHQ-9 and GAD-7
scores, sessions attended and questionnaires completed, summarised by ``outcomes.py`` for the practice, each
clinician and each supervisor's team. CSV for export. Suppression happens in ``outcomes.summarise``."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback.models import Assignment, ClinicianRecord, EpisodeRecord, Response
from services.feedback.outcomes import MEASURES, EpisodeScores, GroupReport, summarise
from shared.statuses import QuestionnaireStatus

SENT = (QuestionnaireStatus.OPEN, QuestionnaireStatus.COMPLETED, QuestionnaireStatus.EXPIRED)


def episode_scores(session: Session, start: datetime, end: datetime, clinicians: frozenset | None) -> list:
    """Every episode that ended in ``[start, end)`` on the given caseloads (None: all), with its scores."""
    stmt = select(EpisodeRecord).where(EpisodeRecord.ended_at >= start, EpisodeRecord.ended_at < end)
    if clinicians is not None:
        stmt = stmt.where(EpisodeRecord.clinician_id.in_(clinicians))
    episodes = session.scalars(stmt).all()
    ids = [e.id for e in episodes]
    if not ids:
        return []
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for episode_id, measure, total in session.execute(
        select(Response.episode_id, Response.measure, Response.total)
        .where(Response.episode_id.in_(ids), Response.measure.in_(MEASURES))
        .order_by(Response.completed_at, Response.id)
    ):
        scores[episode_id][measure].append(total)
    sessions: dict[str, set] = defaultdict(set)
    sent: dict[str, int] = defaultdict(int)
    completed: dict[str, int] = defaultdict(int)
    for episode_id, trigger, number, status in session.execute(
        select(Assignment.episode_id, Assignment.trigger, Assignment.session_number, Assignment.status).where(
            Assignment.episode_id.in_(ids)
        )
    ):
        if trigger == "session" and number is not None:
            sessions[episode_id].add(number)
        if status in SENT:
            sent[episode_id] += 1
        if status == QuestionnaireStatus.COMPLETED:
            completed[episode_id] += 1
    found = []
    for e in episodes:
        by_measure = scores.get(e.id, {})
        found.append(
            EpisodeScores(
                episode_id=e.id,
                clinician_id=e.clinician_id,
                sessions_attended=len(sessions[e.id]),
                first={m: v[0] for m, v in by_measure.items()},
                last={m: v[-1] for m, v in by_measure.items() if len(v) >= 2},
                questionnaires_sent=sent[e.id],
                questionnaires_completed=completed[e.id],
            )
        )
    return found


def period(args: dict) -> tuple[datetime, datetime]:
    """``[start, end)`` as UTC datetimes from a ``ReportQuery``'s inclusive dates (default: the last 90 days)."""
    from datetime import UTC, time, timedelta

    from shared.db import utcnow

    end = args.get("end") or utcnow().date()
    start = args.get("start") or end - timedelta(days=90)
    return datetime.combine(start, time(0), UTC), datetime.combine(end + timedelta(days=1), time(0), UTC)


def outcome_report(
    session: Session, start: datetime, end: datetime, clinicians: frozenset | None, min_episodes: int
) -> list[GroupReport]:
    """Rows: all the episodes in scope (the practice, or the viewer's team), each supervisor's team in scope,
    then each clinician, by name."""
    episodes = episode_scores(session, start, end, clinicians)
    people = session.scalars(select(ClinicianRecord).order_by(ClinicianRecord.name)).all()
    if clinicians is not None:
        people = [p for p in people if p.id in clinicians]
    rows = [summarise("all", "The practice" if clinicians is None else "Your team", episodes, min_episodes)]
    for lead in people:
        team = {lead.id} | {p.id for p in people if p.supervisor_id == lead.id}
        if len(team) > 1:
            rows.append(
                summarise(
                    f"team:{lead.id}",
                    f"{lead.name}'s team",
                    [e for e in episodes if e.clinician_id in team],
                    min_episodes,
                )
            )
    for person in people:
        mine = [e for e in episodes if e.clinician_id == person.id]
        rows.append(summarise(f"clinician:{person.id}", person.name, mine, min_episodes))
    return rows


COLUMNS = [
    "group",
    "label",
    "finished",
    "paired",
    "cases_at_start",
    "recovered",
    "recovery_pct",
    "reliably_improved",
    "reliable_improvement_pct",
    "reliably_recovered",
    "reliable_recovery_pct",
    "reliably_deteriorated",
    "reliable_deterioration_pct",
    "questionnaires_completed",
    "questionnaires_sent",
    "completion_pct",
    *(f"mean_change_{m}" for m in MEASURES),
]


def as_row(r: GroupReport, min_episodes: int) -> dict:
    if r.suppressed:
        return {"group": r.group, "label": r.label, "finished": f"fewer than {min_episodes}"}
    row = {"group": r.group, "label": r.label, "finished": r.finished, "paired": r.paired, "cases_at_start": r.cases}
    for count, pct, rate in (
        ("recovered", "recovery_pct", r.recovery),
        ("reliably_improved", "reliable_improvement_pct", r.reliable_improvement),
        ("reliably_recovered", "reliable_recovery_pct", r.reliable_recovery),
        ("reliably_deteriorated", "reliable_deterioration_pct", r.reliable_deterioration),
    ):
        row[count], row[pct] = rate.count, rate.percent
    row["questionnaires_completed"], row["questionnaires_sent"] = r.completion.count, r.completion.of
    row["completion_pct"] = r.completion.percent
    for m in MEASURES:
        row[f"mean_change_{m}"] = r.mean_change.get(m)
    return row


def to_csv(rows: list[GroupReport], min_episodes: int) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(as_row(r, min_episodes))
    return out.getvalue()


def csv_response(rows: list[GroupReport], min_episodes: int, start: datetime, end: datetime):
    from flask import Response

    name = f"outcomes-{start:%Y-%m-%d}-to-{end:%Y-%m-%d}.csv"
    return Response(
        to_csv(rows, min_episodes),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
