"""No lost, no duplicated: the outbox, the idempotent consumer and the dead-letter topic on the real broker."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import timedelta

import pytest
from kafka.errors import KafkaError
from sqlalchemy import func, select, text

from deploy.kafka import broker
from services.feedback.bootstrap import bootstrap as feedback_bootstrap
from services.feedback.models import Assignment
from services.scheduling.bootstrap import bootstrap as scheduling_bootstrap
from shared import worker
from shared.events import catalog as events
from shared.events.catalog import ensure_all_topics, topic_for
from shared.events.envelope import Event
from shared.messaging import deadletter_cli
from shared.messaging.consumer import DEAD_LETTERED, DUPLICATE, HANDLED
from shared.messaging.deadletter import read_dead_letters
from shared.messaging.kafka_clients import make_producer
from shared.messaging.outbox import WAKE_CHANNEL, emit
from shared.messaging.tables import OutboxMessage
from tests.support import events as ev
from tests.support.apps import service_runtime
from tests.support.ports import free_port
from tests.support.topics import events_on


def _client(client_id: str) -> dict:
    return ev.client(client_id, clinician_id="cl-1", episode_id="ep-1")


def _completed(client_id: str, appointment_id: str) -> dict:
    return ev.session_completed(1, appointment_id, client_id=client_id, clinician_id="cl-1", episode_id="ep-1")


def _send(producer, event: Event | None = None, raw: bytes | None = None, key: str = "c1") -> None:
    value = raw if raw is not None else event.to_json().encode()
    headers = event.headers() if event else []
    producer.send(topic_for("scheduling"), key=key.encode(), value=value, headers=headers).get(timeout=30)


def _assignments(runtime) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(Assignment))


def _feedback(url: str, bootstrap: str):
    runtime = service_runtime("feedback", url, bootstrap)
    relay, loop = worker.build(runtime, feedback_bootstrap(runtime.settings, runtime))
    return runtime, relay, loop


def _drain(loop, until, timeout=60.0) -> None:
    consumer, producer = loop.consumer_factory(), loop.producer_factory()
    try:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            loop.poll_once(consumer, producer)
        assert until(), f"consumer did not get there: {dict(loop.outcomes)}"
    finally:
        consumer.close()
        producer.close()


def test_duplicate_is_a_no_op_and_malformed_goes_to_dead_letters(
    kafka_bootstrap, kafka_namespace, new_database, capsys
):
    runtime, _relay, loop = _feedback(new_database("feedback"), kafka_bootstrap)
    producer = make_producer(kafka_bootstrap, "test")
    first = ev.make(events.SESSION_COMPLETED, _completed("c1", "a1"), "c1")
    later = ev.make(events.SESSION_COMPLETED, _completed("c1", "a2"), "c1")
    _send(producer, ev.make(events.CLIENT_REGISTERED, _client("c1"), "c1"))
    _send(producer, first)
    _send(producer, first)  # redelivered
    _send(producer, raw=b"{not json")
    unknown = Event(type="attune.scheduling.appointment.teleported", source="scheduling", subject="c1", data={})
    _send(producer, unknown)
    bad = Event(type=first.type, source="scheduling", subject="c1", data={"client_id": "c1"})
    _send(producer, bad)
    _send(producer, later)  # the partition keeps flowing after all that

    _drain(loop, lambda: loop.outcomes[HANDLED] + loop.outcomes[DUPLICATE] + loop.outcomes[DEAD_LETTERED] >= 7)

    assert loop.outcomes[HANDLED] == 3  # client.registered, first, later
    assert loop.outcomes[DUPLICATE] == 1
    assert loop.outcomes[DEAD_LETTERED] == 3
    assert _assignments(runtime) == 2
    with runtime.sessions() as s:
        issued = s.scalars(select(OutboxMessage.event_type)).all()
    assert issued == ["attune.feedback.questionnaire.issued"] * 2  # the duplicate emitted nothing

    letters = read_dead_letters(kafka_bootstrap, "feedback")
    assert sorted(d.headers["dlq.reason"] for d in letters) == ["invalid_payload", "malformed", "malformed"]
    assert all(d.headers["dlq.topic"] == topic_for("scheduling") for d in letters)
    assert any("no schema for attune.scheduling.appointment.teleported" in d.headers["dlq.error"] for d in letters)

    deadletter_cli.main(["list", "--group", "feedback", "--bootstrap", kafka_bootstrap])
    assert "3 dead letter(s) for group feedback" in capsys.readouterr().out
    producer.close()


def test_dead_letter_replay_processes_once_the_cause_is_fixed(kafka_bootstrap, kafka_namespace, new_database):
    runtime, _relay, loop = _feedback(new_database("feedback"), kafka_bootstrap)
    loop.park_timeout = timedelta(0)  # an event for an unknown client waits no time at all here
    producer = make_producer(kafka_bootstrap, "test")
    orphan = ev.make(events.SESSION_COMPLETED, _completed("c9", "a9"), "c9")
    _send(producer, orphan, key="c9")  # the client is unknown: parked, then dead-lettered at the timeout
    _drain(loop, lambda: loop.outcomes[DEAD_LETTERED] == 1)
    assert read_dead_letters(kafka_bootstrap, "feedback")[0].headers["dlq.reason"] == "dependency_missing"

    _send(producer, ev.make(events.CLIENT_REGISTERED, _client("c9"), "c9"), key="c9")
    _drain(loop, lambda: loop.outcomes[HANDLED] == 1)
    deadletter_cli.main(["replay", "--group", "feedback", "--bootstrap", kafka_bootstrap])
    _drain(loop, lambda: _assignments(runtime) == 1)
    deadletter_cli.main(["replay", "--group", "feedback", "--bootstrap", kafka_bootstrap])  # replayed again
    _drain(loop, lambda: loop.outcomes[DUPLICATE] == 1)
    assert _assignments(runtime) == 1
    producer.close()


@pytest.fixture
def own_broker(tmp_path):
    """A broker this test may stop and start again (same data directory and ports)."""
    directory, port, controller = tmp_path / "broker", free_port(), free_port()
    try:
        node = broker.start_single(directory, port, controller)
    except Exception as exc:  # noqa: BLE001 - a failure, never a skip
        pytest.fail(f"could not start the real Kafka broker: {exc}", pytrace=False)
    yield node, lambda: broker.start_single(directory, port, controller)
    broker.stop(directory)


def test_events_committed_while_kafka_is_down_arrive_once_it_is_back(own_broker, tmp_path, monkeypatch):
    node, restart = own_broker
    monkeypatch.setenv("ATTUNE_KAFKA_NAMESPACE", f"t{uuid.uuid4().hex[:8]}")
    ensure_all_topics(node.bootstrap, partitions=3)
    scheduling = service_runtime("scheduling", f"sqlite:///{tmp_path / 'scheduling.db'}", node.bootstrap)
    relay, _ = worker.build(scheduling, scheduling_bootstrap(scheduling.settings, scheduling), poll_interval=0.2)
    broker.stop(node.directory)

    # The state change and its events commit while Kafka is down.
    with scheduling.sessions() as s, s.begin():
        emit(s, events.CLIENT_REGISTERED, _client("c1"), subject="c1")
        completed = emit(s, events.SESSION_COMPLETED, _completed("c1", "a1"), subject="c1")

    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with scheduling.sessions() as s:
            tried = s.scalar(select(func.max(OutboxMessage.attempts)))
        if tried:
            break
        time.sleep(0.2)
    with scheduling.sessions() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    assert rows and all(r.published_at is None for r in rows), "nothing can be published while Kafka is down"
    assert max(r.attempts for r in rows) >= 1

    restart()
    deadline = time.monotonic() + 90
    while relay.published < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    thread.join(timeout=20)
    assert relay.published == 3  # the two events, and client.registered's copy on the directory topic

    feedback, _r, loop = _feedback(f"sqlite:///{tmp_path / 'feedback.db'}", node.bootstrap)
    _drain(loop, lambda: _assignments(feedback) == 1)
    assert _assignments(feedback) == 1

    # The record is on the topic exactly once, in commit order after client.registered.
    ids = [e.id for e in events_on(node.bootstrap, topic_for("scheduling"))]
    assert ids.count(completed.id) == 1
    assert len(ids) == 2


def test_on_postgresql_the_commit_itself_wakes_the_leading_relay(kafka_bootstrap, kafka_namespace, postgres_url):
    """The ``NOTIFY`` that commits with the outbox rows wakes whichever relay leads the database, in any process.
    This relay has no wake socket and a two-minute poll interval: only the notification can explain a publish
    within seconds (before it, a replica not leading slept out its poll at every hop)."""
    scheduling = service_runtime("scheduling", postgres_url, kafka_bootstrap)
    relay, _ = worker.build(scheduling, scheduling_bootstrap(scheduling.settings, scheduling), poll_interval=120)
    relay.wake_port = None  # no datagram can reach it
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while relay._lock_conn is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert relay._lock_conn is not None, "the relay took the lead"
        time.sleep(2)  # its first pass found nothing: it sleeps for the poll interval unless woken
        assert relay.published == 0
        with scheduling.sessions() as s, s.begin():
            emit(s, events.SESSION_COMPLETED, _completed("c1", "a1"), subject="c1")
        deadline = time.monotonic() + 30
        while relay.published == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert relay.published == 1
    finally:
        stop.set()
        with scheduling.engine.connect() as conn:  # wakes it once more, to see the stop
            conn.execute(text(f"NOTIFY {WAKE_CHANNEL}"))
            conn.commit()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_an_outbox_row_that_can_never_be_sent_is_parked_and_later_rows_keep_flowing(
    kafka_bootstrap, kafka_namespace, new_database, capsys
):
    from shared.messaging import outbox_cli

    url = new_database("scheduling")
    scheduling = service_runtime("scheduling", url, kafka_bootstrap)
    relay, _ = worker.build(scheduling, scheduling_bootstrap(scheduling.settings, scheduling))
    with scheduling.sessions() as s, s.begin():
        emit(s, events.CLIENT_REGISTERED, _client("c1"), subject="c1")
        huge = emit(s, events.CLIENT_REGISTERED, _client("c2"), subject="c2")
        emit(s, events.CLIENT_REGISTERED, _client("c3"), subject="c3")
    with scheduling.sessions() as s, s.begin():  # larger than any broker accepts: it will never go
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.event_id == huge.id))
        row.payload = row.payload.replace('"Jo"', '"' + "J" * 2_000_000 + '"')
    for _ in range(4):  # the relay's loop calls this; a pass where nothing got through raises (and backs off)
        with contextlib.suppress(KafkaError):
            relay.publish_pending()
    relay.close()
    with scheduling.sessions() as s:
        rows = {r.key: r for r in s.scalars(select(OutboxMessage))}
    assert rows["c1"].published_at and rows["c3"].published_at  # not held up by c2's row
    assert rows["c2"].published_at is None and rows["c2"].parked_at is not None
    assert rows["c2"].attempts == 3 and rows["c2"].last_error == "MessageSizeTooLargeError"

    outbox_cli.main(["list", "--service", "scheduling", "--url", url])
    assert "1 parked outbox row(s) in scheduling" in capsys.readouterr().out
    outbox_cli.main(["replay", "--service", "scheduling", "--url", url])
    with scheduling.sessions() as s:
        assert s.get(OutboxMessage, rows["c2"].id).parked_at is None  # back in line for the relay
    scheduling.engine.dispose()
