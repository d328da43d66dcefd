"""One function per consumed event type. Each runs inside the consumer's transaction (with the inbox row)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.feedback import alerts, assignments, plans
from services.feedback.models import Assignment, ClientRecord, ClinicianRecord, EpisodeRecord, MeasurementPlan
from services.feedback.plans import Plan
from services.feedback.settings import FeedbackSettings
from shared.errors import MissingDependency
from shared.events.envelope import Event
from shared.projections import is_stale
from shared.statuses import ClientStatus


def upsert_client(session: Session, event: Event) -> None:
    d = event.data
    client = session.get(ClientRecord, d.client_id) or ClientRecord(id=d.client_id)
    if is_stale(client.version, d.version):
        return
    client.version = d.version or client.version
    client.preferred_name = d.preferred_name
    client.clinician_id = d.clinician_id
    client.episode_id = d.episode_id
    client.consent_email = d.consent_email
    client.consent_sms = d.consent_sms and d.preferred_channel == "sms"
    client.status = d.status
    session.merge(client)
    if d.episode_id:
        episode = session.get(EpisodeRecord, d.episode_id)
        if episode is None:
            session.add(
                EpisodeRecord(
                    id=d.episode_id, client_id=d.client_id, clinician_id=d.clinician_id, started_at=event.time
                )
            )
        elif episode.ended_at is None:
            episode.clinician_id = d.clinician_id  # the episode's clinician is the one who ends it


def discharge_client(session: Session, event: Event) -> None:
    d = event.data
    client = session.get(ClientRecord, d.client_id)
    if client is not None and not is_stale(client.version, d.version):
        client.status = ClientStatus.DISCHARGED
        client.version = d.version or client.version
    episode = session.get(EpisodeRecord, d.episode_id) if d.episode_id else None
    if episode is not None and episode.ended_at is None:
        episode.ended_at = d.discharged_at


def record_unreached_therapist(session: Session, event: Event) -> None:
    d = event.data
    if d.template == "alert_notice" and d.recipient_kind == "clinician" and d.alert_id:
        alerts.therapist_unreached(session, d.alert_id, d.at)


def upsert_clinician(session: Session, event: Event) -> None:
    d = event.data
    held = session.get(ClinicianRecord, d.clinician_id)
    if held is None or not is_stale(held.version, d.version):
        version = d.version or (held.version if held else None)
        session.merge(
            ClinicianRecord(
                id=d.clinician_id, name=d.name, active=d.active, version=version, supervisor_id=d.supervisor_id
            )
        )


def plan_for(session: Session, client_id: str, settings: FeedbackSettings) -> Plan:
    """The client's own plan, else the practice's, else the configured default."""
    for scope in (client_id, "practice"):
        row = session.get(MeasurementPlan, scope)
        if row is not None:
            return Plan(row.intake_measures, row.session_measures, row.every_n_sessions, row.min_days_between)
    return settings.default_plan()


def _known_client(session: Session, client_id: str) -> ClientRecord:
    client = session.get(ClientRecord, client_id)
    if client is None:
        # Scheduling's events share one partition per client, so client.registered normally comes first; a
        # rebuilt database or a replay can still bring an event early: wait for the client, never drop it.
        raise MissingDependency(f"client:{client_id}")
    return client


def _issue(session: Session, event: Event, client: ClientRecord, settings: FeedbackSettings, now, **what):
    """Issue (or record skipping) the questionnaire that ``event`` calls for."""
    return assignments.issue(
        session,
        client=client,
        clinician_id=event.data.clinician_id,
        source=event,
        now=now,
        ttl=timedelta(hours=settings.link_ttl_hours),
        base_url=settings.questionnaire_base_url,
        link_key=settings.link_key,
        appointment_id=event.data.appointment_id,
        **what,
    )


def issue_after_session(session: Session, event: Event, settings: FeedbackSettings, clock) -> None:
    d = event.data
    client = _known_client(session, d.client_id)
    now = clock()
    plan = plan_for(session, client.id, settings)
    last = session.scalar(
        select(func.max(Assignment.issued_at)).where(
            Assignment.client_id == client.id,
            Assignment.episode_id == client.episode_id,
            Assignment.token_hash.is_not(None),
        )
    )
    why_not = plans.due_after_session(plan, d.session_number, last, now)
    measures = list(plan.session_measures)
    _issue(
        session,
        event,
        client,
        settings,
        now,
        measures=measures,
        trigger="session",
        skip_reason=why_not,
        session_number=d.session_number,
    )


def issue_baseline(session: Session, event: Event, settings: FeedbackSettings, clock) -> None:
    """The episode's first booking sends the intake measures, so there is a baseline before session one."""
    d = event.data
    client = _known_client(session, d.client_id)
    now = clock()
    if d.starts_at <= now:
        return  # entered after it started: the session questionnaire follows straight away
    already = session.scalar(
        select(Assignment.id)
        .where(Assignment.client_id == client.id, Assignment.episode_id == client.episode_id)
        .limit(1)
    )
    plan = plan_for(session, client.id, settings)
    if already or not plan.intake_measures:
        return
    _issue(session, event, client, settings, now, measures=list(plan.intake_measures), trigger="intake")
