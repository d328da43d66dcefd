"""Writing events into the outbox, in the caller's transaction, and waking the relay once it commits."""

from __future__ import annotations

import socket
import uuid

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.events.catalog import EventSpec, directory_topic
from shared.events.envelope import Event
from shared.logs import correlation_id  # noqa: F401 - the flow's id, copied into every event written meanwhile
from shared.messaging.tables import OutboxMessage

_PENDING_WAKE = "attune_outbox_wake"


def emit(
    session: Session,
    spec: EventSpec,
    data: dict,
    *,
    subject: str,
    causation: Event | None = None,
) -> Event:
    """Validate ``data`` against the contract and add the event to the outbox of ``session``'s transaction."""
    wire = spec.validate_outgoing(data)
    event = Event(
        type=spec.type,
        source=spec.source,
        subject=subject,
        data=wire,
        dataversion=spec.version,
        correlationid=(causation.correlationid if causation else None) or correlation_id.get(),
        causationid=causation.id if causation else None,
    )
    payload, headers = event.to_json(), [[k, v.decode()] for k, v in event.headers()]
    session.add(
        OutboxMessage(
            event_id=event.id, event_type=event.type, topic=spec.topic, key=subject, payload=payload, headers=headers
        )
    )
    if spec.directory:  # the same event, keyed by entity on the compacted topic a projection rebuilds from
        session.add(
            OutboxMessage(
                event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"attune-directory:{event.id}")),
                event_type=event.type,
                topic=directory_topic(spec.source),
                key=f"{spec.name.split('.')[0]}:{subject}",
                payload=payload,
                headers=headers,
            )
        )
    session.info[_PENDING_WAKE] = True
    return event


class Waker:
    """Tells the relay that new rows committed, by a UDP datagram to the port its worker listens on (loopback).
    Losing a datagram costs only latency: the relay still polls on a timer."""

    def __init__(self, port: int | None):
        self.port = port
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def notify(self) -> None:
        if self.port:
            try:
                self._sock.sendto(b"1", ("127.0.0.1", self.port))
            except OSError:
                pass  # the relay is not listening: its timer picks the rows up


WAKE_CHANNEL = "attune_outbox"  # PostgreSQL: the relay leading this database LISTENs here


def install_wake_hook(session_factory, waker: Waker) -> None:
    """After any commit that wrote outbox rows, wake the relay. On PostgreSQL the transaction itself carries a
    ``NOTIFY``, delivered at its commit to whichever relay holds the lead (any process, any replica); elsewhere a
    datagram goes to the wake port of this machine's worker."""

    @sa_event.listens_for(session_factory, "before_commit")
    def _before_commit(session):
        if session.info.get(_PENDING_WAKE) and session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"NOTIFY {WAKE_CHANNEL}"))

    @sa_event.listens_for(session_factory, "after_commit")
    def _after_commit(session):
        if session.info.pop(_PENDING_WAKE, False):
            waker.notify()

    @sa_event.listens_for(session_factory, "after_rollback")
    def _after_rollback(session):
        session.info.pop(_PENDING_WAKE, None)


def decode_headers(stored: list) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in stored]
