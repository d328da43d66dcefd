"""One function per consumed event type. Each runs inside the consumer's transaction (with the inbox row)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from services.feedback import assignments
from services.feedback.models import ClientRecord, ClinicianRecord
from shared.db import utcnow
from shared.errors import PermanentError
from shared.events.envelope import Event


def upsert_client(session: Session, event: Event) -> None:
    d = event.data
    client = session.get(ClientRecord, d["client_id"]) or ClientRecord(id=d["client_id"])
    client.preferred_name = d["preferred_name"]
    client.clinician_id = d["clinician_id"]
    client.episode_id = d["episode_id"]
    client.consent_email = d["consent_email"]
    client.status = d["status"]
    session.merge(client)


def discharge_client(session: Session, event: Event) -> None:
    client = session.get(ClientRecord, event.data["client_id"])
    if client is not None:
        client.status = "discharged"


def upsert_clinician(session: Session, event: Event) -> None:
    d = event.data
    session.merge(ClinicianRecord(id=d["clinician_id"], name=d["name"], active=d["active"]))


def make_session_completed(settings):
    """``settings`` carries the plan (measures per session), link lifetime and public URL."""

    def issue_after_session(session: Session, event: Event) -> None:
        d = event.data
        client = session.get(ClientRecord, d["client_id"])
        if client is None:
            # Scheduling's events share one partition per client, so client.registered always comes first;
            # a missing client means a broken stream, which retrying cannot fix.
            raise PermanentError("session.completed for a client feedback has never seen")
        assignments.issue(
            session,
            client=client,
            clinician_id=d["clinician_id"],
            measures=list(settings.session_measures),
            trigger="session",
            source=event,
            now=utcnow(),
            ttl=timedelta(hours=settings.link_ttl_hours),
            base_url=settings.public_url,
            appointment_id=d["appointment_id"],
            session_number=d["session_number"],
        )

    return issue_after_session


def handlers(settings) -> dict:
    return {
        "attune.scheduling.client.registered": upsert_client,
        "attune.scheduling.client.updated": upsert_client,
        "attune.scheduling.client.discharged": discharge_client,
        "attune.scheduling.clinician.registered": upsert_clinician,
        "attune.scheduling.clinician.updated": upsert_clinician,
        "attune.scheduling.session.completed": make_session_completed(settings),
    }
