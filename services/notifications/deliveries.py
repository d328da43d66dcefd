"""The delivery ledger and its dispatcher: every message sent once, retried when SMTP fails for a while.

Exactly-once effect: a delivery is enqueued under a unique key in the same transaction as the consumed
event's inbox row, so a redelivered event adds nothing. Each of the dispatcher's sender threads
(``NOTIFY_SMTP_CONCURRENCY``) takes ONE delivery at a time: it re-checks that the message is still wanted,
commits ``sending``, talks to SMTP, then commits ``sent``. So at most one delivery per sender thread is ever
between the SMTP server's acceptance and that commit. If the process dies exactly there, the delivery is
found in ``sending`` after its lease and sent again with the SAME Message-ID, flagged ``possible_duplicate``
and logged: a duplicate is possible only in that window, and never silent. A process killed between
deliveries sends no duplicate at all.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.notifications import kinds
from services.notifications.kinds import kind_of
from services.notifications.messages import render, render_text
from services.notifications.models import AppointmentRecord, Contact, Delivery, QuestionnaireRecord
from services.notifications.rules import Route, SendTimeFacts, client_route
from services.notifications.settings import NotificationsSettings
from services.notifications.sms_channel import SmsChannel
from services.notifications.smtp_channel import OperationalSendError, PermanentSendError, TransientSendError
from shared import logs, metrics
from shared.db import utcnow
from shared.events import catalog as events
from shared.events.envelope import Event
from shared.messaging.outbox import emit
from shared.statuses import DeliveryStatus

log = logs.get("notifications.dispatcher")
OPERATIONAL = "operational: "  # last_error prefix of a fault on our side (shown as a banner to admins)
_DUE = "attune_delivery_enqueued"  # session.info flag: this transaction enqueued a delivery


def enqueue(
    session: Session,
    template: str,
    recipient: Contact,
    source: Event,
    *,
    context: dict,
    due_at: datetime | None = None,
    key: str | None = None,
    schedule_key: str | None = None,
    channel: str = "email",
) -> Delivery:
    """Add a delivery of ``template`` to ``recipient`` because of ``source`` (once: the key, by default the
    source event, template and recipient, makes a redelivered event add nothing). ``channel``: ``sms`` sends a
    text to the recipient's mobile number."""
    key = key or f"{source.id}:{template}:{recipient.id}"
    existing = session.scalar(select(Delivery).where(Delivery.idempotency_key == key))
    if existing is not None:
        return existing
    delivery = Delivery(
        idempotency_key=key,
        template=template,
        recipient_kind=recipient.kind,
        recipient_id=recipient.id,
        channel=channel,
        to_address=recipient.phone if channel == "sms" else recipient.email,
        context=context,
        source_event_id=source.id,
        subject_id=source.subject,
        due_at=due_at or utcnow(),
        schedule_key=schedule_key,
    )
    session.add(delivery)
    session.flush()
    session.info[_DUE] = True
    return delivery


def outcome(row: Delivery, at: datetime, error: str | None) -> dict:
    """A ``notification.*`` event's data for ``row``: who, what kind, when, and the error or reason."""
    return {
        "delivery_id": row.id,
        "template": row.template,
        "recipient_kind": row.recipient_kind,
        "recipient_id": row.recipient_id,
        "source_event_id": row.source_event_id,
        "at": at,
        "error_class": error,
        "alert_id": (row.context or {}).get("alert_id"),
        "idempotency_key": getattr(row, "idempotency_key", None),
    }


def cancel(session: Session, delivery: Delivery, reason: str) -> None:
    """Withdraw a message that was never sent, saying why; the front desk sees it in the client's message
    log (``notification.cancelled``)."""
    delivery.status, delivery.last_error = DeliveryStatus.CANCELLED, reason[:300]
    emit(session, events.NOTIFICATION_CANCELLED, outcome(delivery, utcnow(), reason[:80]), subject=delivery.subject_id)


def _never_queued(kind: str, template: str, recipient: Contact, source: Event, reason: str) -> dict:
    """The outcome event of a message that got no ledger row, under an id derived from the enqueue key (and
    ``kind``) so a replayed event reports it once."""
    row = SimpleNamespace(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"attune:{kind}:{source.id}:{template}:{recipient.id}")),
        idempotency_key=f"{source.id}:{template}:{recipient.id}",
        template=template,
        recipient_kind=recipient.kind,
        recipient_id=recipient.id,
        source_event_id=source.id,
        context={},
    )
    return outcome(row, utcnow(), reason[:80])


def withhold(session: Session, template: str, recipient: Contact, source: Event, reason: str) -> None:
    """A message that is not even queued (e.g. no consent to email): ``notification.cancelled``, the client's
    own choice, shown in the desk's message log."""
    data = _never_queued("withheld", template, recipient, source, reason)
    emit(session, events.NOTIFICATION_CANCELLED, data, subject=source.subject)


def not_reached(session: Session, template: str, recipient: Contact, source: Event, reason: str) -> None:
    """A client message that cannot go by the client's preferred channel (no number, no consent to texts, a
    preference for calls): never silence. ``notification.failed`` puts it on the front desk's list of
    delivery problems."""
    data = _never_queued("unreached", template, recipient, source, reason)
    emit(session, events.NOTIFICATION_FAILED, data, subject=source.subject)
    log.info("delivery.not_reached", template=template, reason=reason)


def route(contact: Contact, settings: NotificationsSettings, *, needs_email_consent: bool) -> Route:
    return client_route(
        preferred=contact.channel or "email",
        active=contact.active,
        email=contact.email,
        consent_email=contact.consent_email,
        phone=contact.phone,
        consent_sms=contact.consent_sms,
        sms_enabled=settings.sms_enabled,
        needs_email_consent=needs_email_consent,
    )


def text_status(session: Session, provider_ref: str, status: str, error_code: str | None, now: datetime) -> None:
    """A delivery report for a text message. ``failed`` or ``undelivered`` after the provider accepted it
    turns the delivery failed and tells the front desk (``notification.failed``), once however often the
    report comes; ``delivered`` is logged."""
    row = session.scalar(select(Delivery).where(Delivery.provider_ref == provider_ref).with_for_update())
    if row is None:
        log.warning("sms.status_for_unknown_message", status=status)
        return
    if status in ("failed", "undelivered") and row.status == DeliveryStatus.SENT:
        row.status = DeliveryStatus.FAILED
        row.last_error = f"text {status} (provider error {error_code or 'none'})"
        emit(session, events.NOTIFICATION_FAILED, outcome(row, now, row.last_error[:80]), subject=row.subject_id)
    log.info("sms.status", delivery_id=row.id, status=status, error_code=error_code)


def backups_for(session: Session, clinician: Contact, settings: NotificationsSettings) -> list[Contact]:
    """Who else hears about an urgent alert: the clinician's supervisor (else the practice's supervisor
    address), and the on-call address."""
    found = []
    supervisor = session.get(Contact, clinician.supervisor_id) if clinician.supervisor_id else None
    if supervisor is not None and supervisor.email and supervisor.active:
        found.append(supervisor)
    elif settings.supervisor_address:
        found.append(
            Contact(id="supervisor", kind="practice", email=settings.supervisor_address, display_name="Supervisor")
        )
    if settings.oncall_address:
        found.append(Contact(id="on-call", kind="practice", email=settings.oncall_address, display_name="On call"))
    return found


def backoff(attempt: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter (seconds)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def send_time_facts(session: Session, delivery: Delivery, now: datetime) -> SendTimeFacts:
    """Read what the delivery's message refers to, as the ledger knows it now."""
    ctx = delivery.context
    appt = session.get(AppointmentRecord, ctx["appointment_id"]) if "appointment_id" in ctx else None
    questionnaire = session.get(QuestionnaireRecord, ctx["assignment_id"]) if "assignment_id" in ctx else None
    contact = session.get(Contact, delivery.recipient_id)
    client = contact if contact is not None and contact.kind == "client" else None
    return SendTimeFacts(
        now=now,
        opted_out=bool(contact is not None and contact.opted_out),
        client_active=client.active if client else None,
        client_email=client.email if client else None,
        consent_email=client.consent_email if client else None,
        channel=client.channel if client else None,
        delivery_channel=delivery.channel or "email",
        client_phone=client.phone if client else None,
        consent_sms=client.consent_sms if client else None,
        appointment_status=appt.status if appt else None,
        appointment_starts_at=appt.starts_at if appt else None,
        questionnaire_status=questionnaire.status if questionnaire else None,
    )


def _current_address(session: Session, delivery: Delivery) -> str | None:
    """A client's corrected address, when it differs from the one the message was queued for."""
    contact = session.get(Contact, delivery.recipient_id)
    if contact is None or contact.kind != "client":
        return None
    current = contact.phone if delivery.channel == "sms" else contact.email
    return current if current and current != delivery.to_address else None


def still_wanted(session: Session, delivery: Delivery, now: datetime) -> str | None:
    """Why a scheduled message must not go out after all (None when it should), checked at send time by the
    rule its kind declares."""
    return kind_of(delivery.template).still_wanted(delivery.context, send_time_facts(session, delivery, now))


def _observe_alert_latency(row: Delivery, sent_at: datetime) -> None:
    """How long an alert notice took from the alert being raised (the event's time) to the mail server."""
    raised = row.context.get("raised_at")
    if row.template != kinds.ALERT_NOTICE.name or not raised:
        return
    recipient = "backup" if row.context.get("for_supervisor") else "therapist"
    seconds = (sent_at - datetime.fromisoformat(raised)).total_seconds()
    metrics.ALERT_NOTICE_SECONDS.labels(recipient).observe(max(0.0, seconds))


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        channel,
        settings: NotificationsSettings,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 50,
        sms=None,
        concurrency: int = 1,
    ):
        """``channel`` sends email; ``sms`` (an ``SmsChannel``) sends text messages. ``concurrency``: deliveries
        in flight at once, each thread over its own reused SMTP connection (each still claimed alone, so at most
        this many can be between the server's acceptance and the ``sent`` commit when the process dies)."""
        self.sessions, self.channel, self.settings = sessions, channel, settings
        self.sms = sms or SmsChannel(settings)
        self.lease, self.batch = lease, max(batch, 2 * concurrency)
        self.concurrency = concurrency
        self._last_send = 0.0
        self._throttle_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._wake = threading.Event()
        sa_event.listen(sessions, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        """A transaction of this process enqueued a delivery: the dispatcher looks now, not at its next tick."""
        if session.info.get(_DUE):
            self._wake.set()

    def one_pass(self, stop: threading.Event) -> None:
        """One pass of the worker's dispatcher loop (run by ``shared.loops.run_guarded``, which survives any
        failure: the ledger holds the state). Idle, it sleeps until this process enqueues a delivery, or half a
        second (deliveries that fall due later, and those enqueued by other replicas)."""
        self._wake.clear()
        if self.dispatch_once(stop=stop) == 0:
            self._wake.wait(0.5)

    def reclaim_stale(self, now: datetime) -> int:
        with self.sessions() as session, session.begin():
            result = session.execute(
                update(Delivery)
                .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < now - self.lease)
                .values(status=DeliveryStatus.PENDING, possible_duplicate=True, due_at=now)
            )
        if result.rowcount:
            log.warning("dispatcher.reclaimed_unconfirmed", count=result.rowcount)
        return result.rowcount

    def due_ids(self, now: datetime) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Delivery.id)
                    .where(Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= now)
                    .order_by(Delivery.due_at)
                    .limit(self.batch)
                )
            )

    def claim(self, delivery_id: str, now: datetime) -> Delivery | None:
        """Take one delivery (a conditional update: two dispatchers never take the same one) after re-checking
        that it should still go out."""
        with self.sessions() as session, session.begin():
            delivery = session.get(Delivery, delivery_id)
            if delivery is None or delivery.status != DeliveryStatus.PENDING:
                return None
            why_not = still_wanted(session, delivery, now)
            readdressed = None if why_not else _current_address(session, delivery)
            if readdressed:
                log.info("delivery.readdressed", delivery_id=delivery.id, reason="address corrected")
                delivery.to_address = readdressed
            if why_not:
                if delivery.possible_duplicate:  # an earlier attempt may have reached them: say so in the ledger
                    why_not = f"{why_not} (an earlier, unconfirmed attempt may have been delivered)"
                cancel(session, delivery, why_not)
                log.info("delivery.cancelled_at_send_time", delivery_id=delivery.id, reason=why_not)
                return None
            taken = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.PENDING)
                .values(
                    status=DeliveryStatus.SENDING,
                    claimed_at=now,
                    attempts=Delivery.attempts + 1,
                    first_attempt_at=func.coalesce(Delivery.first_attempt_at, now),
                )
            ).rowcount
            if not taken:
                return None
            session.refresh(delivery)
            return delivery

    def dispatch_once(self, now: datetime | None = None, stop: threading.Event | None = None) -> int:
        """Send what is due at ``now``; returns how many deliveries were attempted. Once ``stop`` is set no
        further delivery is taken (those in hand are finished first)."""
        now = now or utcnow()
        self.reclaim_stale(now)
        due = self.due_ids(now)
        if self.concurrency <= 1 or len(due) <= 1:
            attempted = 0
            for delivery_id in due:
                if stop is not None and stop.is_set():
                    break
                attempted += self._deliver(delivery_id, now, stop)
            return attempted
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="dispatcher")
        futures = [self._pool.submit(self._deliver, delivery_id, now, stop) for delivery_id in due]
        wait(futures)  # every delivery in hand is finished before any failure is raised
        return sum(f.result() for f in futures)

    def _deliver(self, delivery_id: str, now: datetime, stop: threading.Event | None) -> int:
        """Claim, render, send and record one delivery; 1 if it was attempted."""
        if stop is not None and stop.is_set():
            return 0
        delivery = self.claim(delivery_id, now)
        if delivery is None:
            return 0
        texting = delivery.channel == "sms"
        try:
            message = render_text(delivery, self.settings) if texting else render(delivery, self.settings)
        except Exception as exc:  # noqa: BLE001 - a template that cannot render never will: fail and report
            self._finish(delivery, DeliveryStatus.FAILED, f"could not render: {type(exc).__name__}")
            return 1
        self._throttle(stop)
        provider_ref = None
        try:
            if texting:
                provider_ref = self.sms.send(delivery.to_address, message)
            else:
                self.channel.send(message)
        except OperationalSendError as exc:
            metrics.SMTP_OPERATIONAL_FAULTS.inc()
            log.error("delivery.smtp_refused_us", delivery_id=delivery.id, error=str(exc))
            self._retry_or_fail(delivery, f"{OPERATIONAL}{exc}", now, exc.maybe_delivered)
        except TransientSendError as exc:
            self._retry_or_fail(delivery, str(exc), now, exc.maybe_delivered)
        except PermanentSendError as exc:
            self._finish(delivery, DeliveryStatus.FAILED, str(exc))
        else:
            self._finish(delivery, DeliveryStatus.SENT, None, provider_ref)
        return 1

    def _throttle(self, stop: threading.Event | None = None) -> None:
        """At most ``rate_per_second`` sends, whatever the concurrency (each send takes the next slot)."""
        gap = 1.0 / self.settings.rate_per_second
        with self._throttle_lock:
            slot = max(time.monotonic(), self._last_send + gap)
            self._last_send = slot
        pause = slot - time.monotonic()
        if pause > 0:
            (stop or threading.Event()).wait(pause)

    def retry_window(self, delivery: Delivery) -> timedelta:
        """How long a message keeps being retried: alert notices far longer than client messages."""
        s = self.settings
        hours = s.alert_retry_hours if kind_of(delivery.template).retry_class == "alert" else s.client_retry_hours
        return timedelta(hours=hours)

    def _retry_or_fail(self, delivery: Delivery, error: str, now: datetime, maybe_delivered: bool = False) -> None:
        started = delivery.first_attempt_at or now
        if now - started >= self.retry_window(delivery):
            self._finish(delivery, DeliveryStatus.FAILED, f"gave up after {delivery.attempts} attempts: {error}")
            return
        delay = backoff(delivery.attempts, cap=self.settings.retry_backoff_cap_seconds)
        with self.sessions() as session, session.begin():
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id)
                .values(
                    status=DeliveryStatus.PENDING,
                    last_error=error[:300],
                    due_at=now + timedelta(seconds=delay),
                    possible_duplicate=delivery.possible_duplicate or maybe_delivered,
                )
            )
        log.info("delivery.retry", delivery_id=delivery.id, attempt=delivery.attempts, error=error)

    @staticmethod
    def _is_therapists_alert(row: Delivery) -> bool:
        """The alert notice to the client's own therapist (not a copy to a supervisor or on-call)."""
        return (
            row.template == "alert_notice"
            and row.recipient_kind == "clinician"
            and not row.context.get("for_supervisor")
        )

    def _tell_backups_the_therapist_is_unreached(self, session: Session, row: Delivery) -> None:
        """An alert notice that could not reach the therapist goes to their supervisor and the on-call address,
        saying so; nobody is left believing the therapist knows."""
        clinician = session.get(Contact, row.recipient_id)
        if clinician is None:
            return
        source = SimpleNamespace(id=row.source_event_id, subject=row.subject_id)
        context = {**row.context, "unreached": True, "for_supervisor": True}
        for backup in backups_for(session, clinician, self.settings):
            enqueue(
                session,
                row.template,
                backup,
                source,
                context=context,
                due_at=row.claimed_at,
                key=f"unreached:{row.id}:{backup.id}",
            )
        log.error("delivery.therapist_unreached", delivery_id=row.id)

    def _finish(self, delivery: Delivery, status: str, error: str | None, provider_ref: str | None = None) -> None:
        now = utcnow()
        with self.sessions() as session, session.begin():
            row = session.get(Delivery, delivery.id)
            row.status, row.last_error = status, (error or None) and error[:300]
            row.provider_ref = provider_ref or row.provider_ref
            if status == DeliveryStatus.SENT:
                row.sent_at = now
                _observe_alert_latency(row, now)
                secrets = kind_of(row.template).secret_keys
                row.context = {k: v for k, v in row.context.items() if k not in secrets}
            emit(
                session,
                events.NOTIFICATION_SENT if status == DeliveryStatus.SENT else events.NOTIFICATION_FAILED,
                outcome(row, now, None if status == DeliveryStatus.SENT else (error or "")[:80]),
                subject=row.subject_id,
            )
            if self._is_therapists_alert(row) and status == DeliveryStatus.FAILED:
                self._tell_backups_the_therapist_is_unreached(session, row)
        log.info(
            "delivery." + status,
            delivery_id=delivery.id,
            template=delivery.template,
            attempts=delivery.attempts,
            possible_duplicate=delivery.possible_duplicate,
        )
