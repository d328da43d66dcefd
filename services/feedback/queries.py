"""Read models for the dashboard and the API: a caseload at a glance, one client's progress, alerts. Who may
see which client is decided here, once (``Viewer``): a clinician sees their own clients; a supervisor theirs
and those of the clinicians they supervise (the whole practice only when configured); anyone sees a client
they opened by break-glass until that grant expires. Which roles reach these reads at all is in policy.py:
the front desk sees only whether questionnaires were completed, admins nothing clinical."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from services.feedback import change, curves, measures, rules, submission, trajectories
from services.feedback.chart import Point
from services.feedback.models import Alert, Assignment, BreakGlassGrant, ClientRecord, ClinicianRecord, Response
from shared.auth import Principal
from shared.errors import NotFound
from shared.statuses import AlertStatus, ClientStatus, QuestionnaireStatus, Severity

STATUS_ORDER = {s: i for i, s in enumerate(rules.STATUSES)}


@dataclass(frozen=True)
class Viewer:
    """A signed-in person and the clients they may see."""

    principal: Principal
    clinicians: frozenset[str] | None  # whose caseloads; None: the whole practice
    granted: frozenset[str] = frozenset()  # clients opened by break-glass, not yet expired

    def sees(self, clinician_id: str | None, client_id: str | None = None) -> bool:
        if client_id is not None and client_id in self.granted:
            return True
        return self.clinicians is None or clinician_id in self.clinicians


def viewer(session: Session, principal: Principal, now: datetime, practice_wide: bool = False) -> Viewer:
    """``practice_wide``: supervisors see every caseload (a small practice's choice, SUPERVISORS_SEE_PRACTICE)."""
    granted = frozenset(
        session.scalars(
            select(BreakGlassGrant.client_id).where(
                BreakGlassGrant.subject == principal.subject, BreakGlassGrant.expires_at > now
            )
        )
    )
    if "supervisor" in principal.roles and practice_wide:
        return Viewer(principal, None, granted)
    own = {principal.clinician_id} if principal.clinician_id else set()
    if "supervisor" in principal.roles and principal.clinician_id:
        own |= set(
            session.scalars(select(ClinicianRecord.id).where(ClinicianRecord.supervisor_id == principal.clinician_id))
        )
    return Viewer(principal, frozenset(own), granted)


def visible_client(session: Session, viewer: Viewer, client_id: str) -> ClientRecord:
    client = session.get(ClientRecord, client_id)
    # Someone else's client is "not found" too (not 403): do not confirm that they exist.
    if client is None or not viewer.sees(client.clinician_id, client.id):
        raise NotFound(f"No client with id {client_id}.")
    return client


def visible_alert(session: Session, viewer: Viewer, alert_id: str) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or not viewer.sees(alert.clinician_id, alert.client_id):
        raise NotFound(f"No alert with id {alert_id}.")
    return alert


def open_break_glass(session: Session, viewer: Viewer, client_id: str, reason: str, now: datetime, hours: float):
    """Open a client outside the caseload for ``hours``, with the reason kept for their clinician to see."""
    from datetime import timedelta

    if session.get(ClientRecord, client_id) is None:
        raise NotFound(f"No client with id {client_id}.")
    grant = BreakGlassGrant(
        subject=viewer.principal.subject,
        clinician_id=viewer.principal.clinician_id,
        client_id=client_id,
        reason=reason,
        granted_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(grant)
    session.flush()
    return grant


def break_glass_on(session: Session, client_id: str) -> list[BreakGlassGrant]:
    return list(
        session.scalars(
            select(BreakGlassGrant)
            .where(BreakGlassGrant.client_id == client_id)
            .order_by(BreakGlassGrant.granted_at.desc())
            .limit(50)
        )
    )


@dataclass
class CaseloadRow:
    client: ClientRecord
    status: str
    last_scores: dict[str, dict]  # measure -> {"total", "band", "n"}
    questionnaires: int
    open_alerts: list[Alert] = field(default_factory=list)
    attended: int = 0  # sessions attended this episode
    last_questionnaire: datetime | None = None  # when the latest was completed

    @property
    def worst_alert(self) -> str | None:
        return max((a.severity for a in self.open_alerts), key=lambda s: Severity(s).rank, default=None)

    @property
    def needs_attention(self) -> bool:
        """An open alert, or a status that asks the therapist to look (risk, off track)."""
        return bool(self.open_alerts) or self.status in ("risk", "off_track")


CASELOAD_SORTS = {
    "attention": lambda r: (
        -Severity(r.worst_alert).rank if r.worst_alert else 1,
        STATUS_ORDER[r.status],
        r.client.preferred_name.lower(),
    ),
    "name": lambda r: r.client.preferred_name.lower(),
    "status": lambda r: (STATUS_ORDER[r.status], r.client.preferred_name.lower()),
    "attended": lambda r: (-r.attended, r.client.preferred_name.lower()),
    "last": lambda r: (
        r.last_questionnaire is None,
        -(r.last_questionnaire.timestamp() if r.last_questionnaire else 0),
    ),
}


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


def caseload(
    session: Session, viewer: Viewer, sort: str = "attention", attention_only: bool = False
) -> list[CaseloadRow]:
    """The viewer's active clients; ``sort``: one of ``CASELOAD_SORTS`` (open alerts and worst status first by
    default); ``attention_only``: only those who need attention."""
    stmt = select(ClientRecord).where(ClientRecord.status == ClientStatus.ACTIVE)
    if viewer.clinicians is not None:
        stmt = stmt.where(ClientRecord.clinician_id.in_(viewer.clinicians))
    clients = list(session.scalars(stmt))
    rows = _caseload_rows(session, clients, stmt.with_only_columns(ClientRecord.id)) if clients else []
    if attention_only:
        rows = [r for r in rows if r.needs_attention]
    rows.sort(key=CASELOAD_SORTS.get(sort, CASELOAD_SORTS["attention"]))
    return rows


ANSWERS_CHUNK = 1000  # ids bound in one query (a whole practice's caseload would pass SQLite's limit at once)
CASELOAD_RESPONSE_COLUMNS = (Response.id, Response.client_id, Response.episode_id, Response.measure, Response.total,
                             Response.band, Response.session_number, Response.completed_at)  # fmt: skip


def _caseload_rows(session: Session, clients: list[ClientRecord], ids) -> list[CaseloadRow]:
    """The caseload rows of ``clients`` (``ids``: the query that selected them, as a subquery: a list of
    hundreds of ids cost more to send than to look up) in five queries whatever their number (a query per
    client per fact made a 40-client caseload cost hundreds of round trips). The same facts as ``status_for``
    and ``attendance``. A client who joined since ``clients`` was read is left for the next reading."""
    responses: dict[str, dict[str, list]] = {c.id: {} for c in clients}  # client -> measure -> [(row, trigger)]
    for response in session.execute(  # plain rows, not entities: building ~20k ORM objects was half the time
        select(*CASELOAD_RESPONSE_COLUMNS, Assignment.trigger)
        .join(Assignment, Assignment.id == Response.assignment_id)
        .where(Response.client_id.in_(ids))
        .order_by(Response.completed_at)
    ):
        if response.client_id in responses:
            responses[response.client_id].setdefault(response.measure, []).append((response, response.trigger))
    open_alerts: dict[str, list[Alert]] = {c.id: [] for c in clients}
    for alert in session.scalars(
        select(Alert).where(Alert.client_id.in_(ids), Alert.status != AlertStatus.RESOLVED).order_by(Alert.id)
    ):
        if alert.client_id in open_alerts:
            open_alerts[alert.client_id].append(alert)
    completed: dict[str, int] = {}  # questionnaires completed, every episode
    attended, latest = {}, {}  # per (client, episode): sessions attended; when the latest was completed
    session_number = case(
        (and_(Assignment.trigger == "session", Assignment.session_number.is_not(None)), Assignment.session_number)
    )
    for client, episode, done, sessions, at in session.execute(  # one pass over the assignments, not three
        select(
            Assignment.client_id,
            Assignment.episode_id,
            func.count(case((Assignment.status == QuestionnaireStatus.COMPLETED, 1))),
            func.count(func.distinct(session_number)),
            func.max(Assignment.completed_at),
        )
        .where(Assignment.client_id.in_(ids))
        .group_by(Assignment.client_id, Assignment.episode_id)
    ):
        completed[client] = completed.get(client, 0) + done
        attended[(client, episode)], latest[(client, episode)] = sessions, at
    courses: dict[str, object] = {}

    def expected(m, history):
        if m.id not in courses:
            courses[m.id] = curves.active_course(session, m.id)
        return trajectories.ExpectedCourse(m, history[0].total, courses[m.id])(len(history))

    episode_rows = {
        (client.id, measure_id): [(r, t) for r, t in all_rows if r.episode_id == client.episode_id]
        for client in clients
        for measure_id, all_rows in responses[client.id].items()
    }
    # The status reads risk from the newest answers only (``rules.client_status``: history[-1]); reading every
    # response's answers (JSON) for it was a fifth of the caseload's time.
    newest_ids = [history[-1][0].id for history in episode_rows.values() if history]
    answers = {}
    for start in range(0, len(newest_ids), ANSWERS_CHUNK):
        chunk = newest_ids[start : start + ANSWERS_CHUNK]
        answers.update(session.execute(select(Response.id, Response.answers).where(Response.id.in_(chunk))).all())

    rows = []
    for client in clients:
        worst, last = "no_data", {}
        for measure_id, all_rows in responses[client.id].items():
            history_rows = episode_rows[(client.id, measure_id)]
            if not history_rows:
                continue
            m = measures.get(measure_id)
            history = submission.observations(m, history_rows, lambda r: answers.get(r.id, {}))
            status = rules.client_status(m, history, expected(m, history))
            if STATUS_ORDER[status] < STATUS_ORDER[worst]:
                worst = status
            newest = all_rows[-1][0]  # the newest of any episode, as the client's page shows it
            last[measure_id] = {"total": newest.total, "band": newest.band, "n": len(history)}
        key = (client.id, client.episode_id)
        rows.append(
            CaseloadRow(
                client,
                worst,
                last,
                completed.get(client.id, 0),
                open_alerts[client.id],
                attended.get(key, 0) or 0,
                latest.get(key),
            )  # fmt: skip
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
    totals = [r.total for r in responses]
    return {
        "measure": m,
        "points": points,
        "expected": expected,
        "responses": responses,
        "changes": change.changes(totals),  # from the baseline and from the previous score
        "change_class": change.classify(m, totals[0], totals[-1]) if len(totals) > 1 else None,
        "scored": len(totals),
    }


@dataclass(frozen=True)
class TeamAlert:
    alert: Alert
    client: ClientRecord
    clinician: str  # the therapist's name
    acknowledged_by: str | None  # a name, or "a staff member" when no clinician acknowledged

    def age(self, now: datetime) -> timedelta:
        return now - self.alert.opened_at


def team_alerts(session: Session, viewer: Viewer) -> list[TeamAlert]:
    """Every alert not yet resolved on the caseloads the viewer sees (a supervisor: their own and their
    supervisees'), oldest first: what a supervisor must make sure somebody has picked up."""
    stmt = (
        select(Alert, ClientRecord)
        .join(ClientRecord, ClientRecord.id == Alert.client_id)
        .where(Alert.status != AlertStatus.RESOLVED)
        .order_by(Alert.opened_at, Alert.id)
    )
    if viewer.clinicians is not None:
        stmt = stmt.where(Alert.clinician_id.in_(viewer.clinicians))
    rows = session.execute(stmt).all()
    names = clinician_names(session)
    found = []
    for alert, client in rows:
        by = None
        if alert.acknowledged_at is not None:
            by = names.get(alert.acknowledged_by_clinician or "", "a staff member")
        found.append(TeamAlert(alert, client, names.get(alert.clinician_id, "an unknown clinician"), by))
    return found


def clinician_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(ClinicianRecord.id, ClinicianRecord.name)).all())


def attendance(session: Session, client: ClientRecord) -> tuple[int, int]:
    """(sessions attended, questionnaires completed) in the client's current episode: every completed session
    leaves an assignment, sent or skipped with its reason."""
    in_episode = (Assignment.client_id == client.id, Assignment.episode_id == client.episode_id)
    attended = session.scalar(
        select(func.count(func.distinct(Assignment.session_number))).where(
            *in_episode, Assignment.trigger == "session", Assignment.session_number.is_not(None)
        )
    )
    completed = session.scalar(
        select(func.count()).where(*in_episode, Assignment.status == QuestionnaireStatus.COMPLETED)
    )
    return attended or 0, completed or 0
