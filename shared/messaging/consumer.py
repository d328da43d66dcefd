"""The idempotent consumer loop.

For each record: parse the envelope, find the schema, then in a database transaction write the inbox row
(group, event id), run the handler (its state changes and any outbox rows), and commit. A poll's records share
one transaction (a savepoint each) as long as they go cleanly; a record that does not is taken alone. Only
after the commit is the Kafka offset committed (``offset + 1`` of the last finished record). A redelivered
event hits the inbox's primary key and changes nothing.

Failures are sorted. When the infrastructure fails (database, broker, network), the record is not skipped and
not dead-lettered: the consumer seeks back to it and retries after a pause, for as long as it takes, in
order. A malformed record of any kind (null value, not JSON, not UTF-8, a bad envelope), an unknown type or
version, an invalid payload, a handler's ``PermanentError``, or a handler that keeps failing for a reason of
the event's own goes to the group's dead-letter topic with the reason in headers, and the partition keeps
flowing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared import logs, metrics
from shared.db import utcnow
from shared.errors import MissingDependency, PermanentError
from shared.events.catalog import EventSpec, spec_for
from shared.events.envelope import Event, MalformedEvent
from shared.loops import Health, run_guarded
from shared.messaging.deadletter import send_to_dead_letter
from shared.messaging.failures import InfrastructureUnavailable, is_infrastructure
from shared.messaging.outbox import correlation_id
from shared.messaging.tables import InboxMessage, ParkedEvent

log = logs.get("consumer")


def _flow(event: Event) -> str:
    """The flow an event belongs to (its correlation id; an event that starts a flow is its own)."""
    return event.correlationid or event.id


Handler = Callable[[Session, Event], None]

HANDLED, DUPLICATE, IGNORED, DEAD_LETTERED = "handled", "duplicate", "ignored", "dead_lettered"
WAITING = "waiting_for_infrastructure"  # counted per attempt: the record is retried, never dropped
PARKED, RELEASED = "parked", "released"  # waiting for an entity from another topic; then handled
FAILED = "failed"  # an attempt that failed for the event's own reason: retried, then dead-lettered
UNPARSEABLE = "unparseable"  # the event type of a record that is not an event at all


class _AlreadyProcessed(Exception):
    pass


class _Stopping(Exception):
    """Shutdown began during a retry pause: the record is left unfinished (not committed) for the next run."""


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay)


def _seek(consumer, tp, offset: int) -> None:
    """Read ``tp`` again from ``offset``; a partition taken away by a rebalance meanwhile restarts from its
    committed offset with its new owner, so there is nothing to seek."""
    try:
        consumer.seek(tp, offset)
    except KafkaError:
        pass


@dataclass
class ConsumerLoop:
    group: str
    handlers: Mapping[EventSpec, Handler]
    session_factory: sessionmaker[Session]
    consumer_factory: Callable[[], object]
    producer_factory: Callable[[], object]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    outcomes: Counter = field(default_factory=Counter)
    park_timeout: timedelta = timedelta(hours=24)
    clock: Callable[[], datetime] = utcnow
    recheck_parked_every: float = 30.0  # seconds; parked events are also re-tried after every handled event
    _last_recheck: float = 0.0
    # Before consuming: set up (e.g. create topics), then replay the compacted directory topics from the start.
    setup: Callable[[], None] | None = None
    reader_factory: Callable[[], object] | None = None
    directory_topics: tuple[str, ...] = ()
    _ready: bool = False
    _consumer: object = field(default=None, repr=False)
    _dlq_producer: object = field(default=None, repr=False)
    _stop: threading.Event | None = field(default=None, repr=False)

    def run(self, stop: threading.Event, health: Health | None = None) -> None:
        self._consumer = self._dlq_producer = None
        self._stop = stop
        try:
            run_guarded("consumer", self.one_pass, stop, health)
        finally:
            self._close_clients()

    def one_pass(self, stop: threading.Event) -> None:
        if not self._ready:
            if self.setup is not None:
                self.setup()
            if self._dlq_producer is None:
                self._dlq_producer = self.producer_factory()
            self.catch_up(self._dlq_producer, stop)
            self._ready = True
        if self._consumer is None:
            self._consumer = self.consumer_factory()
        if self._dlq_producer is None:
            self._dlq_producer = self.producer_factory()
        try:
            self.poll_once(self._consumer, self._dlq_producer, stop)
        except (InfrastructureUnavailable, KafkaError):
            raise  # the position is back at the first unfinished record: the guard waits, then we poll again
        except Exception:
            self._close_clients()  # unknown state: a new consumer starts again from the committed offsets
            raise

    def _close_clients(self) -> None:
        consumer, producer = self._consumer, self._dlq_producer
        self._consumer = self._dlq_producer = None
        for client, close in ((consumer, lambda c: c.close()), (producer, lambda p: p.close(timeout=2))):
            if client is not None:
                try:
                    close(client)
                except Exception:  # noqa: BLE001 - closing a broken client must not stop the loop
                    log.warning("consumer.close_failed", group=self.group)

    def poll_once(self, consumer, dlq_producer, stop: threading.Event | None = None) -> int:
        """Handle one poll's records, committing ``offset + 1`` of each partition's last finished record. When
        the infrastructure fails, every unfinished record is sought back to and nothing is skipped.

        A partition's records go in runs: as many as go cleanly share ONE database transaction (``handle_run``);
        a record that does not (unparseable, parked, rejected, failing) is then taken alone by ``process``."""
        batch = list(consumer.poll(timeout_ms=500).items())
        finished = 0
        for index, (tp, records) in enumerate(batch):
            done_offset, position = None, 0
            try:
                while position < len(records):
                    if stop is not None and stop.is_set():
                        break
                    run = self._next_run(records, position, dlq_producer)
                    position += run
                    finished += run
                    done_offset = records[position - 1].offset
                if done_offset is not None:
                    # inside the try: a commit that fails (the broker gone) must seek the later partitions back
                    # too, or their polled but unhandled records would be skipped
                    consumer.commit({tp: OffsetAndMetadata(done_offset + 1, "", -1)})
            except (InfrastructureUnavailable, KafkaError, _Stopping) as exc:
                record = records[min(position, len(records) - 1)]
                _seek(consumer, tp, record.offset if position < len(records) else done_offset + 1)
                for later_tp, later in batch[index + 1 :]:
                    _seek(consumer, later_tp, later[0].offset)
                if done_offset is not None and not isinstance(exc, KafkaError):
                    consumer.commit({tp: OffsetAndMetadata(done_offset + 1, "", -1)})
                if isinstance(exc, _Stopping):
                    return finished
                log.warning(
                    "consumer.waiting_for_infrastructure",
                    group=self.group,
                    error=logs.safe_error(getattr(exc, "cause", exc)),
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )
                raise
        if finished or time.monotonic() - self._last_recheck > self.recheck_parked_every:
            self.release_parked(dlq_producer)
        return finished

    def handle_run(self, records) -> int:
        """Handle the leading ``records`` that go cleanly, all in ONE transaction (each in a savepoint, with its
        inbox row), and return how many that was. A transaction per record would pay a commit (a disk flush on
        PostgreSQL) for each. The run stops before the first record that is not an event, has an invalid
        payload, or whose handler raises: nothing of that record is kept, and ``process`` takes it alone (dead
        letter, park, retries). When the infrastructure fails, nothing of the run is kept."""
        done: list[tuple[str, Event, float]] = []
        try:
            with self.session_factory() as session, session.begin():
                for record in records:
                    try:
                        event = Event.from_json(record.value)
                        spec = spec_for(event)
                        handler = self.handlers.get(spec)
                        if handler is not None:
                            event = event.with_data(spec.load_incoming(event.data))
                    except Exception:  # noqa: BLE001 - not an event, or not a valid one: ``process`` says why
                        break
                    if handler is None:
                        done.append((IGNORED, event, 0.0))
                        continue
                    outcome = self._handle_in_savepoint(session, record, event, handler)
                    if outcome is None:
                        break
                    done.append(outcome)
        except Exception as exc:
            if is_infrastructure(exc):
                self._count(WAITING, "batch")
                raise InfrastructureUnavailable(exc) from exc
            raise
        for outcome, event, seconds in done:  # counted once committed; each line names its flow, as ``process``'s do
            self._count(outcome, event.type)
            flow = _flow(event)
            if outcome == HANDLED:
                metrics.CONSUMER_HANDLER_SECONDS.labels(self.group, event.type).observe(seconds)
                log.info("consumer.handled", group=self.group, event_id=event.id, event_type=event.type,
                         correlation_id=flow)  # fmt: skip
            elif outcome == DUPLICATE:
                log.info("consumer.duplicate", group=self.group, event_id=event.id, correlation_id=flow)
        return len(done)

    def _handle_in_savepoint(self, session: Session, record, event: Event, handler: Handler):
        """(outcome, event, seconds), or None when the handler raised for a reason of the event's own (its
        savepoint is rolled back). An infrastructure failure is raised: the whole run is given up."""
        token = correlation_id.set(_flow(event))
        handling = logs.event_id.set(event.id)
        started = time.perf_counter()
        try:
            with session.begin_nested():
                self._record_and_handle(session, record, event, handler)
            return HANDLED, event, time.perf_counter() - started
        except _AlreadyProcessed:
            return DUPLICATE, event, 0.0
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            return None
        finally:
            correlation_id.reset(token)
            logs.event_id.reset(handling)

    def process(self, record, dlq_producer) -> str:
        try:
            event = Event.from_json(record.value)
            spec = spec_for(event)
        except Exception as exc:  # noqa: BLE001 - whatever these bytes are, they will never parse: dead letter
            return self._dead_letter(dlq_producer, record, "malformed", exc)
        handler = self.handlers.get(spec)
        if handler is None:
            self._count(IGNORED, event.type)
            return IGNORED
        try:
            event = event.with_data(spec.load_incoming(event.data))
        except MalformedEvent as exc:
            return self._dead_letter(dlq_producer, record, "invalid_payload", exc, event.type)

        attempt = 0
        while True:
            attempt += 1
            token = correlation_id.set(_flow(event))
            handling = logs.event_id.set(event.id)
            started = time.perf_counter()
            try:
                self._handle_once(record, event, handler)
                metrics.CONSUMER_HANDLER_SECONDS.labels(self.group, event.type).observe(time.perf_counter() - started)
                self._count(HANDLED, event.type)
                log.info("consumer.handled", group=self.group, event_id=event.id, event_type=event.type)
                return HANDLED
            except _AlreadyProcessed:
                self._count(DUPLICATE, event.type)
                log.info("consumer.duplicate", group=self.group, event_id=event.id)
                return DUPLICATE
            except PermanentError as exc:
                return self._dead_letter(dlq_producer, record, "rejected", exc, event.type)
            except MissingDependency as exc:
                return self._park(record, event, exc.key)
            except Exception as exc:  # noqa: BLE001 - sorted below: the infrastructure's, or the event's own
                if is_infrastructure(exc):
                    self._count(WAITING, event.type)
                    raise InfrastructureUnavailable(exc) from exc
                self._count(FAILED, event.type)
                if attempt >= self.retry.max_attempts:
                    return self._dead_letter(dlq_producer, record, "retries_exhausted", exc, event.type)
                log.warning(
                    "consumer.retry",
                    group=self.group,
                    event_id=event.id,
                    attempt=attempt,
                    error=logs.safe_error(exc),
                )
                if self._stop is not None:
                    if self._stop.wait(self.retry.delay(attempt)):
                        raise _Stopping from exc
                else:
                    time.sleep(self.retry.delay(attempt))
            finally:
                correlation_id.reset(token)
                logs.event_id.reset(handling)

    def _handle_once(self, record, event: Event, handler: Handler) -> None:
        with self.session_factory() as session, session.begin():
            self._record_and_handle(session, record, event, handler)

    def _record_and_handle(self, session: Session, record, event: Event, handler: Handler) -> None:
        """The inbox row (``_AlreadyProcessed`` if the event was handled before), then the handler."""
        if session.scalar(
            select(InboxMessage.event_id).where(
                InboxMessage.consumer_group == self.group, InboxMessage.event_id == event.id
            )
        ):
            raise _AlreadyProcessed
        session.add(_inbox_row(self.group, record, event))
        try:
            session.flush()
        except IntegrityError:
            raise _AlreadyProcessed from None
        handler(session, event)

    # -- rebuilding projections -------------------------------------------------------------------------------

    def catch_up(self, dlq_producer, stop: threading.Event | None = None) -> int:
        """Read the compacted directory topics from the beginning to their current end, through the inbox:
        what was handled already is a duplicate, and entity versions keep newer state. A new or restored
        database so gets every client and clinician back from Kafka alone."""
        if self.reader_factory is None or not self.directory_topics:
            return 0
        reader = self.reader_factory()
        try:
            parts = [
                TopicPartition(topic, p)
                for topic in self.directory_topics
                for p in reader.partitions_for_topic(topic) or ()
            ]
            if not parts:
                return 0
            reader.assign(parts)
            reader.seek_to_beginning(*parts)
            end = reader.end_offsets(parts)
            replayed = 0
            while any(reader.position(tp) < end[tp] for tp in parts):
                if stop is not None and stop.is_set():
                    raise InterruptedError("stopping before the directory was read")
                for records in reader.poll(timeout_ms=500).values():
                    replayed += self._replay(records, dlq_producer)
            log.info("consumer.directory_caught_up", group=self.group, records=replayed)
            return replayed
        finally:
            reader.close()

    def _replay(self, records, dlq_producer) -> int:
        """One partition's polled directory records, in runs sharing a transaction like ``poll_once`` (a
        restart replays every client the practice has: one transaction each made that minutes)."""
        position = 0
        while position < len(records):
            position += self._next_run(records, position, dlq_producer)
        return position

    def _next_run(self, records, position: int, dlq_producer) -> int:
        """Finish the records from ``position`` on that go in one transaction, or else that record alone."""
        run = self.handle_run(records[position:])
        if run == 0:
            self.process(records[position], dlq_producer)
            run = 1
        return run

    # -- parking -------------------------------------------------------------------------------------------

    def _park(self, record, event: Event, waiting_for: str) -> str:
        """Keep the event (and its inbox row, so a redelivery is a duplicate) until what it needs arrives."""
        try:
            with self.session_factory() as session, session.begin():
                session.add(_inbox_row(self.group, record, event))
                session.add(
                    ParkedEvent(
                        consumer_group=self.group,
                        event_id=event.id,
                        event_type=event.type,
                        waiting_for=waiting_for[:120],
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        key=record.key.decode() if record.key else None,
                        payload=record.value.decode() if isinstance(record.value, bytes) else record.value,
                    )
                )
        except IntegrityError:
            self._count(DUPLICATE, event.type)
            return DUPLICATE
        self._count(PARKED, event.type)
        log.info(
            "consumer.parked",
            group=self.group,
            event_id=event.id,
            event_type=event.type,
            waiting_for=waiting_for.split(":", 1)[0],
        )
        return PARKED

    def release_parked(self, dlq_producer) -> int:
        """Hand every parked event back to its handler; those whose dependency has arrived are done. One still
        waiting after ``park_timeout`` is dead-lettered with the reason.

        Replicas of a worker share the parked table: each row is claimed by deleting it in the transaction that
        handles it, so when two replicas reach the same row, one handles it and the other finds nothing to
        delete and leaves it (it never runs the handler a second time, nor dead-letters what was handled)."""
        self._last_recheck = time.monotonic()
        with self.session_factory() as session:
            parked = session.scalars(
                select(ParkedEvent).where(ParkedEvent.consumer_group == self.group).order_by(ParkedEvent.id)
            ).all()
        return self.release(parked, dlq_producer)

    def release(self, parked: list[ParkedEvent], dlq_producer) -> int:
        """Release these parked rows (read a moment ago: another replica may have taken some since)."""
        released = 0
        for row in parked:
            event = Event.from_json(row.payload)
            spec = spec_for(event)
            event = event.with_data(spec.load_incoming(event.data))
            token = correlation_id.set(_flow(event))
            handling = logs.event_id.set(event.id)
            try:
                with self.session_factory() as session, session.begin():
                    if not _claim(session, row):
                        continue  # another replica released it
                    self.handlers[spec](session, event)
            except MissingDependency as exc:  # the claim is rolled back: still parked
                if self.clock() - row.parked_at >= self.park_timeout:
                    self._drop_parked(
                        dlq_producer, row, event, "dependency_missing", f"still {exc} after the park timeout"
                    )
                continue
            except Exception as exc:  # noqa: BLE001 - sorted: the infrastructure's, or the event's own
                if is_infrastructure(exc):
                    raise InfrastructureUnavailable(exc) from exc
                self._drop_parked(dlq_producer, row, event, "rejected", logs.safe_error(exc))
                continue
            finally:
                correlation_id.reset(token)
                logs.event_id.reset(handling)
            released += 1
            self._count(RELEASED, event.type)
            log.info("consumer.released", group=self.group, event_id=event.id, event_type=event.type)
        return released

    def _drop_parked(self, producer, row: ParkedEvent, event: Event, reason: str, error: str) -> None:
        """Dead-letter a parked event that will never be handled, and forget its inbox row so a replay is handled
        anew; only if this replica still holds it (the claim), and the dead letter is acknowledged before the
        row is gone."""
        record = SimpleNamespace(
            topic=row.topic,
            partition=row.partition,
            offset=row.offset,
            key=row.key.encode() if row.key else None,
            value=row.payload.encode(),
            headers=event.headers(),
        )
        with self.session_factory() as session, session.begin():
            if not _claim(session, row):
                return  # another replica handled or dropped it meanwhile
            session.execute(
                delete(InboxMessage).where(
                    InboxMessage.consumer_group == self.group, InboxMessage.event_id == row.event_id
                )
            )
            send_to_dead_letter(producer, self.group, record, reason, error)
        self._count(DEAD_LETTERED, event.type)
        log.warning("consumer.dead_lettered", group=self.group, reason=reason, event_id=event.id)

    def _dead_letter(self, producer, record, reason: str, exc: BaseException, event_type: str = UNPARSEABLE) -> str:
        error = logs.safe_error(exc)
        send_to_dead_letter(producer, self.group, record, reason, error)
        self._count(DEAD_LETTERED, event_type)
        log.warning(
            "consumer.dead_lettered",
            group=self.group,
            reason=reason,
            error=error,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        return DEAD_LETTERED

    def _count(self, outcome: str, event_type: str) -> None:
        self.outcomes[outcome] += 1
        metrics.CONSUMER_RECORDS.labels(self.group, event_type[:120], outcome).inc()


def _claim(session: Session, row: ParkedEvent) -> bool:
    """Take a parked row for this transaction (its delete); False when another replica already has."""
    return session.execute(delete(ParkedEvent).where(ParkedEvent.id == row.id)).rowcount == 1


def _inbox_row(group: str, record, event: Event) -> InboxMessage:
    return InboxMessage(
        consumer_group=group,
        event_id=event.id,
        event_type=event.type,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )
