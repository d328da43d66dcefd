"""The consumer loop's decisions, with a fake producer and an in-memory record (fakes belong in unit tests)."""

from __future__ import annotations

import pytest
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
            raise RuntimeError("a passing failure of the handler's own")

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


def test_an_infrastructure_failure_is_never_dead_lettered_and_the_record_is_not_skipped(tmp_path):
    from sqlalchemy.exc import OperationalError

    from shared.messaging.failures import InfrastructureUnavailable

    calls = []

    def database_down(session, event):
        calls.append(1)
        if len(calls) <= 7:  # more failures than the retry budget: it must still not be dead-lettered
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    loop, _ = _loop(tmp_path, database_down)
    producer = FakeProducer()
    record = _record()
    for _ in range(7):
        with pytest.raises(InfrastructureUnavailable):
            loop.process(record, producer)
    assert loop.process(record, producer) == HANDLED
    assert producer.sent == [] and loop.outcomes[DEAD_LETTERED] == 0


class _FakeConsumer:
    """Just enough of KafkaConsumer for poll_once: one batch, then records of seeks and commits."""

    def __init__(self, batch):
        self.batch, self.seeks, self.commits = batch, [], []

    def poll(self, timeout_ms):
        batch, self.batch = self.batch, {}
        return batch

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))

    def commit(self, offsets):
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


def test_poll_once_seeks_back_to_every_unfinished_record_when_the_database_is_down(tmp_path):
    from kafka.structs import TopicPartition
    from sqlalchemy.exc import OperationalError

    from shared.messaging.failures import InfrastructureUnavailable

    seen = []

    def fails_on_the_second(session, event):
        seen.append(event.id)
        if len(seen) == 2:
            raise OperationalError("SELECT 1", {}, Exception("down"))

    loop, _ = _loop(tmp_path, fails_on_the_second)
    a, b = TopicPartition("attune.scheduling", 0), TopicPartition("attune.scheduling", 1)
    records_a = [Record(_record().value, partition=0, offset=n) for n in (10, 11, 12)]
    records_b = [Record(_record().value, partition=1, offset=5)]
    consumer = _FakeConsumer({a: records_a, b: records_b})
    with pytest.raises(InfrastructureUnavailable):
        loop.poll_once(consumer, FakeProducer())
    # 10 and 11 shared one transaction, which the failure rolled back: nothing is committed, 10 is read again
    assert consumer.commits == []
    assert consumer.seeks == [(a, 10), (b, 5)]  # nothing after the failure is skipped, on any partition


def test_a_commit_that_fails_skips_nothing_on_the_partitions_after_it(tmp_path):
    """The broker goes away between handling one partition's records and committing them: the records polled
    for the other partitions were not handled, so the consumer must seek back to them (found by the chaos run:
    a questionnaire.issued skipped by notifications while the broker was down)."""
    from kafka.errors import KafkaConnectionError
    from kafka.structs import TopicPartition

    handled = []
    loop, _ = _loop(tmp_path, lambda session, event: handled.append(event.id))
    a, b = TopicPartition("attune.scheduling", 0), TopicPartition("attune.scheduling", 1)
    consumer = _FakeConsumer({a: [Record(_record().value, partition=0, offset=7)],
                              b: [Record(_record().value, partition=1, offset=3)]})  # fmt: skip

    def commit_fails(offsets):
        raise KafkaConnectionError("broker down")

    consumer.commit = commit_fails
    with pytest.raises(KafkaConnectionError):
        loop.poll_once(consumer, FakeProducer())
    assert len(handled) == 1  # partition a's record; b's was never handled
    assert (b, 3) in consumer.seeks  # so b is read again from its first polled record


@pytest.mark.parametrize("value", [None, b"\xff\xfe not utf-8", b"null", b'"a string"', b"{}"])
def test_malformed_records_of_any_kind_are_dead_lettered(tmp_path, value):
    loop, _ = _loop(tmp_path, lambda s, e: None)
    producer = FakeProducer()
    assert loop.process(Record(value), producer) == DEAD_LETTERED
    assert producer.sent[0][1]["dlq.reason"] == b"malformed"


def test_an_event_parked_past_the_timeout_is_dead_lettered_and_can_be_replayed(tmp_path):
    from datetime import timedelta

    from shared.db import utcnow
    from shared.errors import MissingDependency
    from shared.messaging.consumer import PARKED, RELEASED
    from shared.messaging.tables import ParkedEvent

    arrived = []

    def needs_the_client(session, event):
        if not arrived:
            raise MissingDependency("client:c1")

    loop, runtime = _loop(tmp_path, needs_the_client)
    producer = FakeProducer()
    record = _record()
    assert loop.process(record, producer) == PARKED
    assert loop.process(record, producer) == DUPLICATE  # a redelivery while parked
    assert loop.release_parked(producer) == 0  # still waiting, within the timeout
    loop.clock = lambda: utcnow() + timedelta(hours=25)
    loop.release_parked(producer)
    assert producer.sent[0][1]["dlq.reason"] == b"dependency_missing"
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ParkedEvent)) == 0
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 0  # so a replay is handled anew
    arrived.append(True)
    assert loop.process(record, producer) == HANDLED
    assert loop.outcomes[RELEASED] == 0


def test_two_replicas_releasing_the_same_parked_event_handle_it_once_and_dead_letter_nothing(tmp_path):
    """Found by the chaos run: both replicas of a worker read the parked table, one released the event, the other
    ran the handler again, failed, dead-lettered it and deleted its inbox row."""
    from shared.errors import MissingDependency
    from shared.messaging.tables import ParkedEvent

    handled = []
    arrived = []

    def needs_the_client(session, event):
        if not arrived:
            raise MissingDependency("client:c1")
        handled.append(event.id)

    first, runtime = _loop(tmp_path, needs_the_client)
    second = ConsumerLoop("feedback", first.handlers, runtime.sessions, None, None, RetryPolicy(max_attempts=1))
    producer = FakeProducer()
    record = _record()
    first.process(record, producer)  # parked
    with runtime.sessions() as s:
        stale = s.scalars(select(ParkedEvent)).all()  # what the second replica read, a moment before
    arrived.append(True)
    assert first.release_parked(producer) == 1
    assert second.release(stale, producer) == 0  # the row is gone: nothing to do
    assert len(handled) == 1 and producer.sent == []
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 1  # a redelivery stays a duplicate
    assert first.process(record, producer) == DUPLICATE


def test_only_the_rows_own_failures_count_towards_parking_it():
    """Found by the long chaos run: timeouts while the broker went away, with other rows getting through in the
    same batches, parked an alert.raised for good."""
    from kafka import errors as kafka_errors

    from shared.messaging.relay import parks

    assert parks(kafka_errors.MessageSizeTooLargeError(), others_got_through=False)
    assert parks(kafka_errors.UnknownTopicOrPartitionError(), others_got_through=True)
    assert not parks(kafka_errors.UnknownTopicOrPartitionError(), others_got_through=False)  # a starting broker
    for passing in (kafka_errors.KafkaTimeoutError(), kafka_errors.NotEnoughReplicasError()):
        assert not parks(passing, others_got_through=True)


def test_a_polls_records_share_one_transaction_and_a_failing_one_is_taken_alone(tmp_path):
    """Records 10-14: 12's handler keeps failing for a reason of its own. 10 and 11 commit together, 12 is
    dead-lettered on its own after its retries, 13 and 14 commit together; the offset committed is 15."""
    from kafka.structs import TopicPartition

    records = [Record(_record().value, partition=0, offset=n) for n in range(10, 15)]
    ids = [Event.from_json(r.value).id for r in records]
    poisoned = ids[2]

    sessions = {}

    def handler(session, event):
        if event.id == poisoned:
            raise RuntimeError("this event's own problem")
        sessions[event.id] = session

    loop, runtime = _loop(tmp_path, handler)
    tp = TopicPartition("attune.scheduling", 0)
    consumer = _FakeConsumer({tp: records})
    producer = FakeProducer()
    assert loop.poll_once(consumer, producer) == 5
    assert consumer.commits == [{tp: 15}]
    assert [headers["dlq.offset"] for _, headers in producer.sent] == [b"12"]
    assert loop.outcomes[HANDLED] == 4 and loop.outcomes[DEAD_LETTERED] == 1
    # one transaction (one session) for 10-11, another for 13-14
    assert sessions[ids[0]] is sessions[ids[1]] and sessions[ids[3]] is sessions[ids[4]]
    assert sessions[ids[0]] is not sessions[ids[3]]
    with runtime.sessions() as s:
        handled = set(s.scalars(select(InboxMessage.event_id)))
    assert handled == set(ids) - {poisoned}


def test_a_duplicate_inside_a_run_changes_nothing_and_the_run_goes_on(tmp_path):
    from kafka.structs import TopicPartition

    calls = []
    loop, runtime = _loop(tmp_path, lambda session, event: calls.append(event.id))
    first = _record()
    again = Record(first.value, partition=0, offset=11)
    other = Record(_record().value, partition=0, offset=12)
    first = Record(first.value, partition=0, offset=10)
    tp = TopicPartition("attune.scheduling", 0)
    consumer = _FakeConsumer({tp: [first, again, other]})
    assert loop.poll_once(consumer, FakeProducer()) == 3
    assert loop.outcomes[HANDLED] == 2 and loop.outcomes[DUPLICATE] == 1
    assert len(calls) == 2 and consumer.commits == [{tp: 13}]


def test_every_line_a_run_writes_names_the_flow_it_belongs_to(tmp_path, capsys):
    """The handled lines are written after the run commits, outside each event's handling: they must still say
    which flow (correlation id) they belong to, or a flow cannot be followed across the services."""
    import json

    from kafka.structs import TopicPartition

    from shared import logs

    logs.configure("feedback")
    loop, _ = _loop(tmp_path, lambda session, event: logs.get("test").info("test.handling"))
    spec = events.CLIENT_DISCHARGED
    flows = [f"flow-{n}" for n in range(3)]
    records = [
        Record(
            Event(
                type=spec.type,
                source=spec.source,
                subject="c1",
                correlationid=flow,
                data={"client_id": "c1", "episode_id": None, "discharged_at": "2026-01-01T00:00:00+00:00"},
            )
            .to_json()
            .encode(),
            partition=0,
            offset=n,
        )  # fmt: skip
        for n, flow in enumerate(flows)
    ]
    consumer = _FakeConsumer({TopicPartition("attune.scheduling", 0): records})
    capsys.readouterr()
    assert loop.poll_once(consumer, FakeProducer()) == 3
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    handled = [line for line in lines if line["event"] == "consumer.handled"]
    assert [line["correlation_id"] for line in handled] == flows
    assert [line["correlation_id"] for line in lines if line["event"] == "test.handling"] == flows
