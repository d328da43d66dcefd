"""The delivery ledger and its dispatcher: every message sent once, retried when SMTP fails for a while.

Exactly-once effect: a delivery is enqueued under a unique key in the same transaction as the consumed
event's inbox row, so a redelivered event adds nothing. Before talking to SMTP the dispatcher commits
``sending``; after, ``sent``. The window between the SMTP server's acceptance and that second commit is
the only place a duplicate can arise: a delivery found in ``sending`` after its lease is sent again with
the SAME Message-ID and flagged ``possible_duplicate`` (logged and visible), never silently.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.messages import SECRET_KEYS, render
from services.notifications.models import Contact, Delivery
from services.notifications.settings import NotifySettings
from services.notifications.smtp_channel import PermanentSendError, TransientSendError
from shared import logs
from shared.db import is_postgres, utcnow
from shared.messaging.outbox import emit

log = logs.get("notifications.dispatcher")


def enqueue(
    session: Session,
    *,
    key: str,
    template: str,
    recipient: Contact,
    recipient_kind: str,
    context: dict,
    source_event_id: str,
    subject_id: str,
    due_at: datetime | None = None,
) -> Delivery:
    existing = session.scalar(select(Delivery).where(Delivery.idempotency_key == key))
    if existing is not None:
        return existing
    delivery = Delivery(
        idempotency_key=key,
        template=template,
        recipient_kind=recipient_kind,
        recipient_id=recipient.id,
        to_address=recipient.email,
        context=context,
        source_event_id=source_event_id,
        subject_id=subject_id,
        due_at=due_at or utcnow(),
    )
    session.add(delivery)
    session.flush()
    return delivery


def backoff(attempt: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter (seconds)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        channel,
        settings: NotifySettings,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 50,
    ):
        self.sessions, self.channel, self.settings = sessions, channel, settings
        self.lease, self.batch = lease, batch
        self._last_send = 0.0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.dispatch_once() == 0:
                    stop.wait(0.5)
            except Exception as exc:  # noqa: BLE001 - keep dispatching; the ledger holds the state
                log.error("dispatcher.error", error=logs.safe_error(exc))
                stop.wait(2.0)

    def reclaim_stale(self, now: datetime) -> int:
        with self.sessions() as session, session.begin():
            result = session.execute(
                update(Delivery)
                .where(Delivery.status == "sending", Delivery.claimed_at < now - self.lease)
                .values(status="pending", possible_duplicate=True, due_at=now)
            )
        if result.rowcount:
            log.warning("dispatcher.reclaimed_unconfirmed", count=result.rowcount)
        return result.rowcount

    def claim(self, now: datetime) -> list[Delivery]:
        with self.sessions() as session, session.begin():
            stmt = (
                select(Delivery)
                .where(Delivery.status == "pending", Delivery.due_at <= now)
                .order_by(Delivery.due_at)
                .limit(self.batch)
            )
            if is_postgres(session):
                stmt = stmt.with_for_update(skip_locked=True)
            rows = session.scalars(stmt).all()
            for d in rows:
                d.status, d.claimed_at, d.attempts = "sending", now, d.attempts + 1
        return rows

    def dispatch_once(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        self.reclaim_stale(now)
        claimed = self.claim(now)
        for delivery in claimed:
            self._throttle()
            try:
                self.channel.send(render(delivery, self.settings))
            except TransientSendError as exc:
                self._retry_or_fail(delivery, str(exc))
            except PermanentSendError as exc:
                self._finish(delivery, "failed", str(exc))
            else:
                self._finish(delivery, "sent", None)
        return len(claimed)

    def _throttle(self) -> None:
        gap = 1.0 / self.settings.rate_per_second
        wait = self._last_send + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_send = time.monotonic()

    def _retry_or_fail(self, delivery: Delivery, error: str) -> None:
        if delivery.attempts >= self.settings.max_attempts:
            self._finish(delivery, "failed", f"gave up after {delivery.attempts} attempts: {error}")
            return
        with self.sessions() as session, session.begin():
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id)
                .values(
                    status="pending",
                    last_error=error[:300],
                    due_at=utcnow() + timedelta(seconds=backoff(delivery.attempts)),
                )
            )
        log.info("delivery.retry", delivery_id=delivery.id, attempt=delivery.attempts, error=error)

    def _finish(self, delivery: Delivery, status: str, error: str | None) -> None:
        now = utcnow()
        with self.sessions() as session, session.begin():
            row = session.get(Delivery, delivery.id)
            row.status, row.last_error = status, (error or None) and error[:300]
            if status == "sent":
                row.sent_at = now
                row.context = {k: v for k, v in row.context.items() if k not in SECRET_KEYS}
            emit(
                session,
                "notification.sent" if status == "sent" else "notification.failed",
                {
                    "delivery_id": row.id,
                    "template": row.template,
                    "recipient_kind": row.recipient_kind,
                    "recipient_id": row.recipient_id,
                    "source_event_id": row.source_event_id,
                    "at": now,
                    "error_class": None if status == "sent" else (error or "")[:80],
                },
                subject=row.subject_id,
            )
        log.info(
            "delivery." + status,
            delivery_id=delivery.id,
            template=delivery.template,
            attempts=delivery.attempts,
            possible_duplicate=delivery.possible_duplicate,
        )
