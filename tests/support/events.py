"""Event payloads for tests, each written once with defaults that every test shares (client c1 of clinician k1),
and ``deliver``: hand one event to a service's handler exactly as the consumer would (loaded into its typed
data, in one transaction)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from shared import sealed
from shared.config import DEV_LINK_KEY
from shared.db import transaction
from shared.events import catalog as events
from shared.events.catalog import EventSpec
from shared.events.envelope import Event


def client(client_id: str = "c1", **changes) -> dict:
    return {
        "client_id": client_id,
        "clinician_id": "k1",
        "episode_id": "e1",
        "preferred_name": "Jo",
        "email": "jo@example.org",
        "timezone": "Europe/London",
        "consent_email": True,
        "status": "active",
        **changes,
    }


def clinician(clinician_id: str = "k1", **changes) -> dict:
    return {
        "clinician_id": clinician_id,
        "name": "Dr Ada Okafor",
        "email": "ada@practice.example",
        "timezone": "Europe/London",
        "active": True,
        **changes,
    }


def booked(starts_at: datetime, appointment_id: str = "a1", **changes) -> dict:
    return {
        "appointment_id": appointment_id,
        "client_id": "c1",
        "clinician_id": "k1",
        "appointment_type": "individual",
        "modality": "in_person",
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(minutes=50),
        **changes,
    }


def session_completed(number: int = 1, appointment_id: str | None = None, **changes) -> dict:
    return {
        "appointment_id": appointment_id or f"s{number}",
        "client_id": "c1",
        "clinician_id": "k1",
        "episode_id": "e1",
        "appointment_type": "individual",
        "session_number": number,
        "completed_at": datetime.now(UTC),
        **changes,
    }


def issued(expires_at: datetime, **changes) -> dict:
    """``questionnaire.issued`` as feedback writes it: the link sealed with the (development) link key."""
    return {
        "assignment_id": "q1",
        "client_id": "c1",
        "clinician_id": "k1",
        "measures": ["phq9"],
        "sealed_url": sealed.seal(DEV_LINK_KEY, "http://127.0.0.1:8002/q/SECRET-TOKEN"),
        "expires_at": expires_at,
        "trigger": "session",
        **changes,
    }


def alert(severity: str = "urgent", alert_id: str = "al1", **changes) -> dict:
    return {
        "alert_id": alert_id,
        "client_id": "c1",
        "clinician_id": "k1",
        "rule": "risk_item",
        "severity": severity,
        "raised_at": datetime.now(UTC),
        **changes,
    }


def make(spec: EventSpec, data: dict, subject: str = "c1") -> Event:
    """An event as a producer would publish it: the payload checked strictly against its contract."""
    return Event(type=spec.type, source=spec.source, subject=subject, data=spec.validate_outgoing(data))


def deliver(runtime, handlers: Mapping[EventSpec, object], spec: EventSpec, data: dict, subject: str = "c1") -> Event:
    """Run ``spec``'s handler on ``data`` as the consumer does; returns the event (typed data)."""
    event = make(spec, data, subject)
    event = event.with_data(spec.load_incoming(event.data))
    with transaction(runtime.sessions) as session:
        handlers[spec](session, event)
    return event


__all__ = ["alert", "booked", "client", "clinician", "deliver", "events", "issued", "make", "session_completed"]
