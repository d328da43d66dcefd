"""The consumer loop's decisions, with a fake producer and an in-memory record (fakes belong in unit tests)."""

from __future__ import annotations

from sqlalchemy import func, select

from services.feedback.settings import FeedbackSettings
from shared.errors import PermanentError
from shared.events import catalog as events
from shared.events.envelope import Event
from shared.logs import safe_error
from shared.messaging.consumer import DEAD_LETTERED, DUPLICATE, HANDLED, IGNORED, ConsumerLoop, RetryPolicy
from shared.messaging.tables import InboxMessage, MessagingBase
from shared.runtime import Runtime
from tests.support.fakes import FakeProducer, Record


def _loop(tmp_path, handler):
    runtime = Runtime.build(FeedbackSettings(database_url=f"sqlite:///{tmp_path}/f.db"))
    MessagingBase.metadata.create_all(runtime.engine)
    loop = ConsumerLoop(
        "feedback",
        {events.CLIENT_DISCHARGED: handler},
        runtime.sessions,
        None,
        None,
        RetryPolicy(max_attempts=3, base_delay=0.001),
    )
    return loop, runtime


def _record():
    spec = events.CLIENT_DISCHARGED
    data = {"client_id": "c1", "episode_id": None, "discharged_at": "2026-01-01T00:00:00+00:00"}
    return Record(Event(type=spec.type, source=spec.source, subject="c1", data=data).to_json().encode())


def test_transient_failures_are_retried_then_succeed(tmp_path):
    calls = []

    def flaky(session, event):
        calls.append(event.id)
        if len(calls) < 3:
            raise TimeoutError("database busy")

    loop, runtime = _loop(tmp_path, flaky)
    producer = FakeProducer()
    record = _record()
    assert loop.process(record, producer) == HANDLED
    assert len(calls) == 3 and producer.sent == []
    assert loop.process(record, producer) == DUPLICATE  # redelivery: the inbox remembers
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 1


def test_a_handler_that_keeps_failing_is_dead_lettered_without_its_values(tmp_path):
    def broken(session, event):
        raise RuntimeError("jo@example.org broke it")

    loop, runtime = _loop(tmp_path, broken)
    producer = FakeProducer()
    assert loop.process(_record(), producer) == DEAD_LETTERED
    topic, headers = producer.sent[0]
    assert topic == "attune.dlq.feedback"
    assert headers["dlq.reason"] == b"retries_exhausted"
    assert headers["dlq.error"] == b"RuntimeError"  # the message (with its personal data) stays out
    with runtime.sessions() as s:  # nothing was half done
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 0


def test_permanent_errors_skip_the_retries(tmp_path):
    calls = []

    def refuse(session, event):
        calls.append(1)
        raise PermanentError("unknown client")

    loop, _ = _loop(tmp_path, refuse)
    producer = FakeProducer()
    assert loop.process(_record(), producer) == DEAD_LETTERED
    assert calls == [1] and producer.sent[0][1]["dlq.reason"] == b"rejected"


def test_events_without_a_handler_are_ignored(tmp_path):
    loop, _ = _loop(tmp_path, lambda s, e: None)
    spec = events.CLINICIAN_UPDATED
    data = {"clinician_id": "k", "name": "A", "email": "a@b.org", "timezone": "UTC", "active": True}
    record = Record(Event(type=spec.type, source="scheduling", subject="k", data=data).to_json().encode())
    assert loop.process(record, FakeProducer()) == IGNORED


def test_safe_error_keeps_sql_parameters_out():
    from sqlalchemy.exc import IntegrityError

    exc = IntegrityError("INSERT INTO clients VALUES (?)", ("Jo Bloggs",), Exception("UNIQUE"))
    assert safe_error(exc) == "IntegrityError"
