"""The outbox relay: publishes committed events in commit order and marks them sent.

It sleeps until a commit that wrote outbox rows wakes it: on PostgreSQL by the ``NOTIFY`` that commits with
them (heard by whichever relay leads, in any process), elsewhere by a datagram on a loopback UDP socket. The
poll interval is only the fallback. When Kafka is unreachable the rows simply stay unpublished and the relay
backs off: nothing is lost. A crash after Kafka acknowledged but before the rows were marked republishes them; consumers
deduplicate by event id, so the effect is still once.

On PostgreSQL only one relay per database publishes at a time (an advisory lock), which keeps the order.
"""

from __future__ import annotations

import select
import socket
import threading
import zlib
from collections.abc import Callable

from kafka import errors as kafka_errors
from kafka.errors import KafkaError, KafkaTimeoutError
from sqlalchemy import select as sql_select
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from shared import logs, metrics
from shared.db import utcnow
from shared.loops import Health, run_guarded
from shared.messaging.outbox import WAKE_CHANNEL, decode_headers
from shared.messaging.tables import OutboxMessage

log = logs.get("relay")

# Errors that say the row itself can never be published (not that the broker is away).
ROW_ERRORS = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidRecordError,
    kafka_errors.InvalidTopicError,
    kafka_errors.TopicAuthorizationFailedError,
)
# An unknown topic is the row's problem only while other rows get through: a broker that is starting up
# answers it for every topic for a moment.
ROW_ERRORS_WHILE_OTHERS_FLOW = (kafka_errors.UnknownTopicOrPartitionError,)


def parks(exc: BaseException, *, others_got_through: bool) -> bool:
    """Whether a failure counts towards parking its row. Only the row's own problems do: an error that says so
    (``ROW_ERRORS``), or one Kafka will never retry while other rows got through. A retriable error (a timeout,
    no leader, not enough replicas) is the broker's passing state, however often it recurs: such a row waits.
    (Found by the long chaos run: timeouts while the broker was going away parked an ``alert.raised``.)"""
    if isinstance(exc, ROW_ERRORS):
        return True
    return others_got_through and (
        isinstance(exc, ROW_ERRORS_WHILE_OTHERS_FLOW) or not getattr(exc, "retriable", False)
    )


class OutboxRelay:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        producer_factory: Callable[[], object],
        *,
        name: str,
        wake_port: int | None = None,
        poll_interval: float = 1.0,
        batch_size: int = 200,
        send_timeout: float = 35.0,
        park_after: int = 3,
    ):
        self.session_factory = session_factory
        self.producer_factory = producer_factory
        self.name = name
        self.wake_port = wake_port
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.send_timeout = send_timeout
        self.park_after = park_after
        self._producer = None
        self._sock: socket.socket | None = None
        self._told_busy = False
        self._lock_conn = None
        self.published = 0

    # -- lifecycle ----------------------------------------------------------------------------------------

    def run(self, stop: threading.Event, health: Health | None = None) -> None:
        self._listen()
        try:
            run_guarded("relay", self.one_pass, stop, health)
        finally:
            self.close()

    def one_pass(self, stop: threading.Event) -> None:
        """Publish what is pending (if this relay leads), then sleep until woken or the poll interval passes.
        Any failure is the guard's to log and back off from; the rows stay unpublished meanwhile."""
        if not self._hold_leadership():
            stop.wait(2.0)
            return
        try:
            count = self.publish_pending()
        except (KafkaError, OSError):
            self._reset_producer()
            raise
        except Exception:
            self._release_leadership()  # a database failure: prove leadership again on a fresh connection
            raise
        if count < self.batch_size:
            self._sleep(stop)

    def close(self) -> None:
        self._reset_producer()
        if self._sock:
            self._sock.close()
            self._sock = None
        self._release_leadership()

    # -- one batch ----------------------------------------------------------------------------------------

    def publish_pending(self) -> int:
        """Publish up to one batch of unpublished rows, oldest first; return how many were published.

        A row that fails does not hold up rows for other clients (later rows with its key wait, so one
        client's events stay in order). A row that keeps failing while others get through is the row's own
        problem (too large, an unknown topic), as is one whose error says so (``ROW_ERRORS``): after
        ``park_after`` attempts it is parked with the reason.
        When nothing gets through, the broker is the problem: the failure is raised and the relay backs off."""
        with self.session_factory() as session:
            rows = session.execute(
                sql_select(
                    OutboxMessage.id,
                    OutboxMessage.topic,
                    OutboxMessage.key,
                    OutboxMessage.payload,
                    OutboxMessage.headers,
                )
                .where(OutboxMessage.published_at.is_(None), OutboxMessage.parked_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(self.batch_size)
            ).all()
        if not rows:
            return 0
        try:
            producer = self._get_producer()
        except KafkaError as exc:  # no broker reachable: the oldest row waits, and says why
            self._record_failures({rows[0].id: exc}, park=False)
            raise
        futures, failures, held_keys = [], {}, set()
        for row in rows:
            if row.key in held_keys:
                continue
            try:
                future = producer.send(
                    row.topic, key=row.key.encode(), value=row.payload.encode(), headers=decode_headers(row.headers)
                )
                futures.append((row, future))
            except KafkaError as exc:  # refused before sending (too large), or no metadata (broker down)
                failures[row.id] = exc
                held_keys.add(row.key)
        try:
            producer.flush(timeout=self.send_timeout)
            flushed = True
        except KafkaTimeoutError:  # some records are still pending: each future says which
            flushed = False
        sent = []
        for row, future in futures:
            if not flushed and not future.is_done:
                failures[row.id] = KafkaTimeoutError("not acknowledged in time")
                continue
            try:
                future.get(timeout=self.send_timeout)  # flush() does not raise per-message errors
                sent.append(row.id)
            except KafkaError as exc:
                failures[row.id] = exc
        with self.session_factory() as session, session.begin():
            if sent:
                session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(sent)).values(published_at=utcnow()))
        if not flushed:
            # What the producer still holds would reach Kafka later, beside the re-sends of those rows: drop it.
            self._reset_producer()
        self._record_failures(failures, park=bool(sent))
        self.published += len(sent)
        metrics.RELAY_PUBLISHED.labels(self.name).inc(len(sent))
        if sent:
            log.info("relay.published", relay=self.name, count=len(sent), last_id=sent[-1])
        if failures and not sent:
            raise next(iter(failures.values()))
        return len(sent)

    def _record_failures(self, failures: dict[int, BaseException], *, park: bool) -> None:
        now = utcnow()
        with self.session_factory() as session, session.begin():
            for row_id, exc in failures.items():
                row = session.get(OutboxMessage, row_id)
                row.attempts += 1
                row.last_error = logs.safe_error(exc)
                if parks(exc, others_got_through=park) and row.attempts >= self.park_after:
                    row.parked_at = now
                    log.error(
                        "relay.row_parked", relay=self.name, outbox_id=row_id, error=row.last_error, topic=row.topic
                    )

    # -- helpers ------------------------------------------------------------------------------------------

    def _get_producer(self):
        if self._producer is None:
            self._producer = self.producer_factory()
        return self._producer

    def _reset_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=2)
            except Exception:  # noqa: BLE001 - closing a broken producer must not stop the relay
                log.warning("relay.producer_close_failed", relay=self.name)
                # kafka-python's close() flushes first and, when that times out, raises before stopping its
                # sender thread: stop it without sending, or the records it still holds would reach Kafka
                # later, beside the re-sends of the same rows (a duplicate on the topic).
                sender = getattr(self._producer, "_sender", None)
                if sender is not None and sender.is_alive():
                    sender.force_close()
            self._producer = None

    def _listen(self) -> None:
        """Bind the wake port. Another replica on this machine may hold it: then this relay polls on its timer
        and tries again before every sleep, so it takes the port over once that replica stops (a rolling
        restart, a scale-down) instead of waiting out the poll interval on every hop from then on."""
        if not self.wake_port or self._sock is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", self.wake_port))
        except OSError:
            if not self._told_busy:
                log.warning("relay.wake_port_busy", relay=self.name, port=self.wake_port)
                self._told_busy = True
            sock.close()
            return
        sock.setblocking(False)
        self._sock = sock
        if self._told_busy:
            log.info("relay.wake_port_taken_over", relay=self.name, port=self.wake_port)
            self._told_busy = False

    def _sleep(self, stop: threading.Event) -> None:
        if self._lock_conn is not None:  # PostgreSQL: woken by the NOTIFY that commits with the rows
            self._await_notify()
            return
        self._listen()
        if self._sock is None:
            stop.wait(self.poll_interval)
            return
        ready, _, _ = select.select([self._sock], [], [], self.poll_interval)
        if ready:
            try:
                while True:
                    self._sock.recv(64)
            except BlockingIOError:
                pass

    def _await_notify(self) -> None:
        """Wait on the lock connection (which LISTENs) for a commit's ``NOTIFY``, or the poll interval."""
        raw = self._lock_conn.connection.driver_connection
        try:
            for _ in raw.notifies(timeout=self.poll_interval, stop_after=1):
                pass
        except Exception:  # noqa: BLE001 - a dead connection: the next pass finds it and takes the lead anew
            log.warning("relay.notify_wait_failed", relay=self.name)
        if self._sock is not None:  # datagrams are not needed here; do not let them pile up
            try:
                while True:
                    self._sock.recv(64)
            except (BlockingIOError, OSError):
                pass

    def _hold_leadership(self) -> bool:
        """On PostgreSQL, hold the relay's advisory lock on a dedicated connection, and check every pass that
        the connection (and so the lock) is still alive: after a database restart the lock is gone, and
        another relay may have taken it."""
        engine = self.session_factory.kw["bind"]
        if engine.dialect.name != "postgresql":
            return True
        if self._lock_conn is not None:
            try:
                self._lock_conn.execute(text("SELECT 1"))
                self._lock_conn.commit()
                return True
            except Exception:  # noqa: BLE001 - the connection died: the lock went with it
                log.warning("relay.leadership_lost", relay=self.name)
                self._release_leadership()
        self._lock_conn = engine.connect()
        key = zlib.crc32(f"attune-relay:{self.name}".encode())
        got = self._lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        self._lock_conn.commit()
        if not got:
            self._release_leadership()
            return False
        self._lock_conn.execute(text(f"LISTEN {WAKE_CHANNEL}"))
        self._lock_conn.commit()
        return True

    def _release_leadership(self) -> None:
        if self._lock_conn is not None:
            try:
                self._lock_conn.invalidate()  # never returned to the pool: a dead lock connection is discarded
            except Exception:  # noqa: BLE001 - already broken: nothing more to release
                log.info("relay.lock_connection_already_closed", relay=self.name)
            self._lock_conn = None
