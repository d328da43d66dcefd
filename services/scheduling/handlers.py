"""Scheduling's consumed events: what became of each message to a client (the message log, and delivery
problems for the desk to chase), questionnaire status, and the client's own unsubscribe."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.scheduling.directory import client_event, open_episode
from services.scheduling.models import Client, ClientMessage, ConsentChange, DeliveryProblem, QuestionnaireView
from shared.events import catalog as events
from shared.events.envelope import Event
from shared.messaging.outbox import emit

OUTCOMES = {"notification.sent": "sent", "notification.failed": "failed", "notification.cancelled": "cancelled"}


def _ours(session: Session, client_id: str) -> bool:
    return session.get(Client, client_id) is not None


def record_message(session: Session, event: Event) -> bool:
    """One row per delivery; a later outcome (a retry that succeeded) replaces an earlier one, never the
    reverse, so a replayed old event cannot turn "sent" back into "failed". False when the message was not
    to one of this directory's clients (alerts to therapists and on-call are not the desk's to chase)."""
    d = event.data
    if d.recipient_kind != "client" or not _ours(session, d.recipient_id):
        return False
    row = session.get(ClientMessage, d.delivery_id)
    if row is None or row.at <= d.at:
        session.merge(
            ClientMessage(
                id=d.delivery_id,
                client_id=d.recipient_id,
                template=d.template,
                source_event_id=d.source_event_id,
                outcome=OUTCOMES[event.name],
                at=d.at,
                reason=d.error_class,
            )
        )
    return True


def record_delivery_problem(session: Session, event: Event) -> None:
    d = event.data
    if record_message(session, event) and session.get(DeliveryProblem, d.delivery_id) is None:
        session.add(
            DeliveryProblem(
                id=d.delivery_id, client_id=d.recipient_id, template=d.template, error=d.error_class, failed_at=d.at
            )
        )


def _questionnaire(session: Session, d) -> QuestionnaireView | None:
    if not _ours(session, d.client_id):
        return None
    row = session.get(QuestionnaireView, d.assignment_id)
    if row is None:
        row = QuestionnaireView(id=d.assignment_id, client_id=d.client_id, status="open")
        session.add(row)
    return row


def questionnaire_issued(session: Session, event: Event) -> None:
    d = event.data
    if (row := _questionnaire(session, d)) is not None:
        row.issued_event_id, row.measures, row.trigger = event.id, list(d.measures), d.trigger
        row.issued_at, row.expires_at = event.time, d.expires_at


def _close(session: Session, d, status: str, at) -> None:
    row = _questionnaire(session, d)
    if row is not None and row.status == "open":  # completed and expired are final; the first one wins
        row.status, row.closed_at = status, at


def questionnaire_skipped(session: Session, event: Event) -> None:
    d = event.data
    if (row := _questionnaire(session, d)) is not None:
        row.trigger, row.issued_at, row.measures = d.trigger, d.skipped_at, []
        row.status, row.closed_at, row.reason = "skipped", d.skipped_at, d.reason


def questionnaire_opened(session: Session, event: Event) -> None:
    row = _questionnaire(session, event.data)
    if row is not None and row.opened_at is None:
        row.opened_at = event.data.opened_at


def questionnaire_completed(session: Session, event: Event) -> None:
    _close(session, event.data, "completed", event.data.completed_at)


def questionnaire_expired(session: Session, event: Event) -> None:
    _close(session, event.data, "expired", event.data.expired_at)


def client_texts_stopped(session: Session, event: Event) -> None:
    """The client replied STOP to a text: consent to texts ends (on the trail), and the directory says so."""
    client = session.get(Client, event.data.client_id)
    if client is None or not client.consent_sms:
        return
    if client.consent_sms_at is not None and client.consent_sms_at > event.data.stopped_at:
        return  # the desk recorded consent again after the STOP: that later decision stands
    client.consent_sms, client.consent_sms_at = False, event.data.stopped_at
    client.version += 1
    session.add(
        ConsentChange(
            client_id=client.id, channel="sms", given=False, at=event.data.stopped_at, by="client", how="replied STOP"
        )
    )
    session.flush()
    episode = open_episode(session, client.id)
    emit(session, events.CLIENT_UPDATED, client_event(client, episode.id if episode else None), subject=client.id)


def client_opted_out(session: Session, event: Event) -> None:
    client = session.get(Client, event.data.client_id)
    if client is None or client.reminders_opted_out:
        return
    client.reminders_opted_out = True
    session.add(
        ConsentChange(
            client_id=client.id,
            channel="reminders",
            given=False,
            at=event.data.opted_out_at,
            by="client",
            how="unsubscribe link",
        )
    )
