"""Questionnaires in the room: practice tablets in kiosk mode, and questionnaires started on demand.

A tablet is registered once (``register``): its device link (``/kiosk/<token>``) is shown to the admin one
time and stored only hashed, like a questionnaire link. Opened on the tablet, it shows a neutral screen
that asks every few seconds whether staff have handed it a questionnaire. Staff start one for a client
(``start``, trigger ``manual``): sent by the client's usual channel, or handed to a tablet. A handed-over link
waits on the device row sealed, is picked up once (``take``), and expires unpicked after ``PICKUP``.
The tablet then shows that client's form only, and it locks back to the neutral screen after submission or
5 minutes idle (``static/kiosk.js``). Scoring, alerts and crisis resources are those of any questionnaire.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback import assignments
from services.feedback.models import ClientRecord, KioskDevice
from shared import sealed
from shared.db import utcnow
from shared.errors import NotFound
from shared.events.envelope import Event
from shared.statuses import ClientStatus

PICKUP = timedelta(minutes=10)  # a handed-over questionnaire not picked up by then is not shown any more


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register(session: Session, name: str, by: str, now: datetime) -> tuple[KioskDevice, str]:
    token = secrets.token_urlsafe(32)
    device = KioskDevice(name=name, token_hash=_hash(token), created_by=by, created_at=now)
    session.add(device)
    session.flush()
    return device, token


def find(session: Session, token: str) -> KioskDevice | None:
    if not token or len(token) > 100:
        return None
    device = session.scalar(select(KioskDevice).where(KioskDevice.token_hash == _hash(token)))
    return device if device is not None and device.revoked_at is None else None


def owns(device: KioskDevice, token: str) -> bool:
    return secrets.compare_digest(device.token_hash, _hash(token))


def start(
    session: Session,
    *,
    client: ClientRecord,
    clinician_id: str,
    measures: list[str],
    by: str,
    now: datetime,
    ttl: timedelta,
    base_url: str,
    link_key: str,
    kiosk: KioskDevice | None = None,
):
    """Start a questionnaire for ``client`` now: handed to ``kiosk`` when given, else sent (notifications
    picks the channel). The source is a synthetic event of its own, so the assignment is unique as every
    other one is."""
    source = Event(type="attune.feedback.questionnaire.started", source="feedback", subject=client.id, data={})
    assignment, token = assignments.issue(
        session,
        client=client,
        clinician_id=clinician_id,
        measures=measures,
        trigger="manual",
        source=source,
        now=now,
        ttl=ttl,
        base_url=base_url,
        link_key=link_key,
        in_the_room=kiosk is not None,
    )
    if kiosk is not None and token is not None:
        assignment.kiosk_id = kiosk.id
        kiosk.pending_link, kiosk.pending_at = sealed.seal(link_key, token), now
    return assignment


def start_for(session: Session, principal, viewer, settings, client_id: str, measure_ids, kiosk_id):
    """``start`` as the API and the dashboard call it: clinicians for the clients they may see (others are
    404), the front desk for any active client; the client's plan decides the measures unless given."""
    from services.feedback import queries
    from services.feedback.handlers import plan_for

    if principal.has("clinician", "supervisor") and not principal.has("frontdesk"):
        client = queries.visible_client(session, viewer, client_id)
    else:
        client = session.get(ClientRecord, client_id)
    if client is None or client.status != ClientStatus.ACTIVE:
        raise NotFound("No such active client.")
    device = device_or_404(session, kiosk_id) if kiosk_id else None
    return start(
        session,
        client=client,
        clinician_id=client.clinician_id or "unassigned",
        measures=list(measure_ids or plan_for(session, client.id, settings).session_measures),
        by=principal.subject,
        now=utcnow(),
        ttl=timedelta(hours=settings.link_ttl_hours),
        base_url=settings.questionnaire_base_url,
        link_key=settings.link_key,
        kiosk=device,
    )


def take(session: Session, device: KioskDevice, link_key: str, now: datetime) -> str | None:
    """The questionnaire token handed to this tablet, once; None when there is none (or it waited too long)."""
    device.last_seen_at = now
    if device.pending_link is None:
        return None
    token = sealed.unseal(link_key, device.pending_link)
    fresh = device.pending_at is not None and now - device.pending_at <= PICKUP
    device.pending_link = device.pending_at = None
    return token if fresh else None


def device_or_404(session: Session, kiosk_id: str) -> KioskDevice:
    device = session.get(KioskDevice, kiosk_id)
    if device is None or device.revoked_at is not None:
        raise NotFound("No such tablet.")
    return device
