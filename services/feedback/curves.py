"""The practice's own expected courses: its finished episodes, and the fitted, versioned models (adapter over
the feedback database; the fitting itself is pure, in trajectories.py)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.feedback import trajectories
from services.feedback.measures import Measure
from services.feedback.models import ClientRecord, CourseModel, Response
from shared.statuses import ClientStatus


def completed_episodes(session: Session, measure_id: str) -> list[dict[int, float]]:
    """Every finished episode's scores on ``measure_id`` as {n-th questionnaire: total} (the practice's history).
    An episode is finished when it is no longer any active client's current episode."""
    current = select(ClientRecord.episode_id).where(
        ClientRecord.status == ClientStatus.ACTIVE, ClientRecord.episode_id.is_not(None)
    )
    rows = session.execute(
        select(Response.episode_id, Response.total)
        .where(Response.measure == measure_id, Response.episode_id.is_not(None), Response.episode_id.not_in(current))
        .order_by(Response.episode_id, Response.completed_at)
    ).all()
    episodes: dict[str, dict[int, float]] = {}
    for episode_id, total in rows:
        scores = episodes.setdefault(episode_id, {})
        scores[len(scores) + 1] = total
    return list(episodes.values())


def _course(row: CourseModel) -> trajectories.FittedCourse:
    return trajectories.FittedCourse(
        row.measure,
        row.version,
        row.percentile,
        row.episodes,
        {int(n): trajectories.SessionFit(*values) for n, values in row.sessions.items()},
    )


def active_course(session: Session, measure_id: str) -> trajectories.FittedCourse | None:
    """The newest fitted version for the measure, or None (the published default applies)."""
    row = session.scalar(
        select(CourseModel).where(CourseModel.measure == measure_id).order_by(CourseModel.version.desc()).limit(1)
    )
    return _course(row) if row else None


def expected_course(session: Session, measure: Measure, intake: float) -> trajectories.ExpectedCourse:
    return trajectories.ExpectedCourse(measure, intake, active_course(session, measure.id))


def fit(
    session: Session, measure: Measure, *, min_episodes: int, percentile: float
) -> tuple[trajectories.FittedCourse, int]:
    """Fit (without storing) the measure's curves to the practice's finished episodes; also returns how many
    finished episodes there are, so a caller can refuse a fit below its minimum."""
    episodes = completed_episodes(session, measure.id)
    latest = session.scalar(select(func.max(CourseModel.version)).where(CourseModel.measure == measure.id)) or 0
    fitted = trajectories.fit_course(
        measure, episodes, version=latest + 1, percentile=percentile, min_episodes=min_episodes
    )
    return fitted, fitted.episodes


def store(session: Session, fitted: trajectories.FittedCourse) -> CourseModel:
    row = CourseModel(
        measure=fitted.measure,
        version=fitted.version,
        episodes=fitted.episodes,
        percentile=fitted.percentile,
        sessions={
            str(n): [f.intercept, f.slope, f.margin, f.episodes, f.rmse] for n, f in sorted(fitted.sessions.items())
        },
    )
    session.add(row)
    session.flush()
    return row
