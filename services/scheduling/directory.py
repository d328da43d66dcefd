"""Clinicians and clients: registration and updates, each emitting its event in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scheduling.booking import RuleViolation, validate_working_hours
from services.scheduling.models import Client, Clinician, ConsentChange, DeliveryProblem, Episode
from services.scheduling.schemas import check_text_messages
from shared.errors import NotFound
from shared.events import catalog as events
from shared.messaging.outbox import emit
from shared.statuses import ClientStatus


def get_or_404(session: Session, model, ident: str, *, lock: bool = False):
    stmt = select(model).where(model.id == ident)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    obj = session.scalar(stmt)
    if obj is None:
        raise NotFound(f"No {model.__name__.lower()} with id {ident}.")
    return obj


# -- clinicians ----------------------------------------------------------------------------------------------


def clinician_event(c: Clinician) -> dict:
    return {
        "clinician_id": c.id,
        "name": c.name,
        "email": c.email,
        "timezone": c.timezone,
        "active": c.active,
        "accepting_new_clients": c.accepting_new_clients,
        "supervisor_id": c.supervisor_id,
        "version": c.version,
    }


def _check_supervisor(session: Session, clinician_id: str | None, supervisor_id: str | None) -> None:
    if supervisor_id is None:
        return
    if supervisor_id == clinician_id:
        raise RuleViolation("A clinician cannot supervise themselves.")
    if session.get(Clinician, supervisor_id) is None:
        raise NotFound(f"No clinician with id {supervisor_id} to supervise.")


def register_clinician(session: Session, data: dict) -> Clinician:
    if session.scalar(select(Clinician.id).where(Clinician.email == data["email"])):
        raise RuleViolation("A clinician with this email is already registered.")
    _check_supervisor(session, None, data.get("supervisor_id"))
    clinician = Clinician(**{**data, "working_hours": validate_working_hours(data.get("working_hours") or {})})
    session.add(clinician)
    session.flush()
    emit(session, events.CLINICIAN_REGISTERED, clinician_event(clinician), subject=clinician.id)
    return clinician


def update_clinician(session: Session, clinician: Clinician, changes: dict) -> Clinician:
    if "working_hours" in changes:
        changes["working_hours"] = validate_working_hours(changes["working_hours"] or {})
    if "supervisor_id" in changes:
        _check_supervisor(session, clinician.id, changes["supervisor_id"])
    for key, value in changes.items():
        setattr(clinician, key, value)
    clinician.version += 1
    session.flush()
    emit(session, events.CLINICIAN_UPDATED, clinician_event(clinician), subject=clinician.id)
    return clinician


def new_calendar_token(clinician: Clinician) -> str:
    """A fresh secret for the clinician's iCalendar feed URL; only its hash is kept."""
    token = secrets.token_urlsafe(24)
    clinician.calendar_token_hash = hashlib.sha256(token.encode()).hexdigest()
    return token


# -- clients -------------------------------------------------------------------------------------------------


def open_episode(session: Session, client_id: str) -> Episode | None:
    return session.scalar(
        select(Episode).where(Episode.client_id == client_id, Episode.ended_at.is_(None)).order_by(Episode.started_at)
    )


def client_event(c: Client, episode_id: str | None) -> dict:
    return {
        "client_id": c.id,
        "clinician_id": c.clinician_id,
        "episode_id": episode_id,
        "preferred_name": c.preferred_name,
        "email": c.email,
        "phone": c.phone,
        "preferred_channel": c.preferred_channel,
        "timezone": c.timezone,
        "consent_email": c.consent_email,
        "consent_email_at": c.consent_email_at,
        "consent_sms": c.consent_sms,
        "consent_sms_at": c.consent_sms_at,
        "status": c.status,
        "version": c.version,
    }


def _check_clinician(session: Session, clinician_id: str | None, *, new_client: bool) -> None:
    if clinician_id is None:
        return
    clinician = get_or_404(session, Clinician, clinician_id)
    if not clinician.active:
        raise RuleViolation("That clinician is no longer active.")
    if new_client and not clinician.accepting_new_clients:
        raise RuleViolation("That clinician is not accepting new clients.")


def _consent_changed(
    session: Session, client: Client, channel: str, given: bool, now: datetime, by: str, how: str, reason=None
) -> None:
    session.add(ConsentChange(client_id=client.id, channel=channel, given=given, at=now, by=by, how=how, reason=reason))


def register_client(
    session: Session,
    data: dict,
    now: datetime,
    by: str = "unknown",
    *,
    consent_at: datetime | None = None,
    how: str = "at registration",
    evidence: str | None = None,
) -> Client:
    """``consent_at``, ``how`` and ``evidence`` record consent given before Attune (an import: when, and where
    the practice holds the client's agreement); by default consent is given now, at registration."""
    _check_clinician(session, data.get("clinician_id"), new_client=True)
    consent = data.pop("consent_email", False)
    texts = data.pop("consent_sms", False)
    client = Client(
        **data,
        consent_email=consent,
        consent_email_at=(consent_at or now) if consent else None,
        consent_sms=texts,
        consent_sms_at=(consent_at or now) if texts else None,
    )
    if not client.preferred_name:
        client.preferred_name = client.legal_name.split()[0]
    session.add(client)
    session.flush()
    given_at = consent_at or now
    _consent_changed(session, client, "email", consent, given_at if consent else now, by, how, evidence)
    if texts:
        _consent_changed(session, client, "sms", texts, given_at, by, how, evidence)
    episode = Episode(client_id=client.id, started_at=now)
    session.add(episode)
    session.flush()
    emit(session, events.CLIENT_REGISTERED, client_event(client, episode.id), subject=client.id)
    return client


def resolve_delivery_problem(session: Session, problem_id: str, by: str, note: str, now: datetime) -> DeliveryProblem:
    """The front desk dealt with a message that could not be delivered; resolving twice keeps the first."""
    problem = get_or_404(session, DeliveryProblem, problem_id)
    if problem.resolved_at is None:
        problem.resolved_at, problem.resolved_by, problem.resolution_note = now, by, note
    return problem


CHANNEL_WORDS = {"email": "email", "sms": "text messages"}


def _regranted(client: Client, changes: dict) -> list[str]:
    """The channels whose consent ``changes`` gives again after it was withdrawn."""
    return [
        channel
        for channel in CHANNEL_WORDS
        if changes.get(f"consent_{channel}") is True
        and not getattr(client, f"consent_{channel}")
        and getattr(client, f"consent_{channel}_at")
    ]


def consent_regrant_errors(client: Client, changes: dict) -> dict:
    """Consent to email or to texts given again after it was withdrawn (by the desk, an unsubscribe or a STOP
    reply) needs how the client confirmed it and why (field errors, empty when none are needed or both are
    there). A first consent needs neither."""
    channels = _regranted(client, changes)
    if not channels:
        return {}
    wanted = " and ".join(CHANNEL_WORDS[c] for c in channels)
    errors = {}
    if changes.get("consent_confirmed") not in CONFIRMATIONS:
        errors["consent_confirmed"] = [
            f"Consent was withdrawn before: say how the client confirmed they want {wanted}."
        ]
    if len((changes.get("consent_reason") or "").strip()) < 3:
        errors["consent_reason"] = ["Consent was withdrawn before: give the reason for giving it again."]
    return errors


def text_message_errors(client: Client, changes: dict) -> dict:
    """Field errors when the client, as changed, would want texts without a number that can receive them."""
    merged = {key: changes.get(key, getattr(client, key)) for key in ("phone", "consent_sms", "preferred_channel")}
    try:
        check_text_messages(merged)
    except ValidationError as exc:
        return exc.normalized_messages()
    return {}


def update_client(
    session: Session, client: Client, changes: dict, now: datetime, by: str = "unknown", how: str = "changed by staff"
) -> Client:
    """Apply ``changes`` (``consent_confirmed`` and ``consent_reason`` go to the consent trail, not the client;
    ``consent_regrant_errors`` must be empty)."""
    confirmed, reason = changes.pop("consent_confirmed", None), changes.pop("consent_reason", None)
    if "clinician_id" in changes and changes["clinician_id"] != client.clinician_id:
        _check_clinician(session, changes["clinician_id"], new_client=True)
    if consent_regrant_errors(client, {**changes, "consent_confirmed": confirmed, "consent_reason": reason}):
        raise RuleViolation("Consent given again needs how the client confirmed it and why.")
    for channel in CHANNEL_WORDS:
        given = changes.get(f"consent_{channel}")
        if given is None or given == getattr(client, f"consent_{channel}"):
            continue
        setattr(client, f"consent_{channel}_at", now)  # when consent was given or withdrawn
        said = CONFIRMATIONS[confirmed] if given and confirmed else how
        _consent_changed(session, client, channel, given, now, by, said, reason and reason.strip())
    for key, value in changes.items():
        setattr(client, key, value)
    client.version += 1
    reopened = None
    if changes.get("status") == ClientStatus.ACTIVE and open_episode(session, client.id) is None:
        reopened = Episode(client_id=client.id, started_at=now)
        session.add(reopened)
    session.flush()
    episode = reopened or open_episode(session, client.id)
    emit(session, events.CLIENT_UPDATED, client_event(client, episode.id if episode else None), subject=client.id)
    return client


CONFIRMATIONS = {
    "in_person": "client confirmed in person",
    "phone": "client confirmed by phone",
    "writing": "client confirmed in writing",
}


def resume_reminders(
    session: Session, client: Client, *, by: str, confirmed: str, reason: str, now: datetime
) -> ConsentChange:
    """Lift the client's unsubscribe: only with a reason and a record of how the client confirmed it, both kept
    on the consent trail (the event to notifications carries neither)."""
    if not client.reminders_opted_out:
        raise RuleViolation("This client has not unsubscribed from reminders.")
    if confirmed not in CONFIRMATIONS:
        raise RuleViolation("Say how the client confirmed they want reminders again.")
    if len(reason.strip()) < 3:
        raise RuleViolation("Give the reason for turning reminders back on (a few words).")
    client.reminders_opted_out = False
    change = ConsentChange(
        client_id=client.id,
        channel="reminders",
        given=True,
        at=now,
        by=by,
        how=CONFIRMATIONS[confirmed],
        reason=reason.strip()[:300],
    )
    session.add(change)
    session.flush()
    emit(session, events.CLIENT_REMINDERS_RESUMED, {"client_id": client.id, "resumed_at": now}, subject=client.id)
    return change


def discharge_client(session: Session, client: Client, now: datetime) -> Client:
    if client.status == ClientStatus.DISCHARGED:
        raise RuleViolation("This client is already discharged.")
    episode = open_episode(session, client.id)
    if episode is not None:
        episode.ended_at = now
    client.status = ClientStatus.DISCHARGED
    client.version += 1
    session.flush()
    emit(
        session,
        events.CLIENT_DISCHARGED,
        {
            "client_id": client.id,
            "episode_id": episode.id if episode else None,
            "discharged_at": now,
            "version": client.version,
        },
        subject=client.id,
    )
    return client
