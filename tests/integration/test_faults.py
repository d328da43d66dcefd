"""Faults on real processes: a worker process under a database outage, and records that cannot be read.
Each test is named after the fault it covers (docs/reliability.md lists them all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import create_engine, func, select, text

from deploy.postgres.server import PostgresServer, create_database
from services.feedback.models import Assignment
from shared.events import catalog as events
from shared.events.catalog import topic_for
from shared.messaging.deadletter import read_dead_letters
from shared.messaging.kafka_clients import make_producer
from shared.migrate import upgrade
from tests.support import events as ev
from tests.support.ports import free_port
from tests.support.topics import events_on

OUTAGE_SECONDS = 30


@pytest.fixture
def own_postgres():
    """A durable PostgreSQL server this test may halt and resume (the suite's shared one must stay up)."""
    server = PostgresServer(durable=True)
    try:
        admin = server.start()
    except Exception as exc:  # noqa: BLE001 - a failure, never a skip
        pytest.fail(f"could not start PostgreSQL: {exc}", pytrace=False)
    yield server, admin
    server.stop()


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001, S110 - the thing waited for may not be reachable yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _publish(producer, client_number: int) -> None:
    client_id = f"c{client_number}"
    for spec, data in (
        (events.CLIENT_REGISTERED, ev.client(client_id)),
        (events.SESSION_COMPLETED, ev.session_completed(1, f"a{client_number}", client_id=client_id)),
    ):
        event = ev.make(spec, data, subject=client_id)
        producer.send(
            topic_for("scheduling"), key=client_id.encode(), value=event.to_json().encode(), headers=event.headers()
        ).get(timeout=30)


def _issued_on_the_topic(bootstrap: str) -> list[str]:
    return [e.subject for e in events_on(bootstrap, topic_for("feedback"))]


def test_database_down_for_30_s_under_a_running_worker(kafka_bootstrap, kafka_namespace, own_postgres, tmp_path):
    """The database dies mid-flow under a real worker process: no thread dies, no event is dead-lettered, the
    health endpoint says why it is unhealthy, and once the database is back every questionnaire is issued once."""
    server, admin = own_postgres
    url = create_database(admin)
    upgrade("feedback", url)
    health_port = free_port()
    env = {
        **os.environ,
        "FEEDBACK_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ATTUNE_KAFKA_NAMESPACE": kafka_namespace,
        "FEEDBACK_OUTBOX_WAKE_PORT": "0",
        "FEEDBACK_WORKER_HEALTH_PORT": str(health_port),
        "WORKER_STALL_SECONDS": "8",
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "services.feedback.worker"], env=env, stdout=log, stderr=log)
    engine = create_engine(url)

    def issued() -> int:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Assignment).where(Assignment.token_hash.is_not(None)))

    producer = make_producer(kafka_bootstrap, "fault-test")
    try:
        _wait(lambda: _health(health_port)[0] == 200, 60, "the worker to come up healthy")
        for n in range(3):
            _publish(producer, n)
        _wait(lambda: issued() == 3, 60, "the first three questionnaires")

        server.halt()
        engine.dispose()
        for n in range(3, 6):  # consumed while the database is down
            _publish(producer, n)
        _wait(lambda: _health(health_port)[0] == 503, OUTAGE_SECONDS, "the worker to report the outage")
        status, report = _health(health_port)
        assert status == 503 and any("OperationalError" in p for p in report["problems"]), report
        time.sleep(max(0.0, OUTAGE_SECONDS - 10))
        assert worker.poll() is None, "the worker process died during the outage"
        server.resume()

        _wait(lambda: issued() == 6, 120, "every questionnaire after the outage")
        _wait(lambda: _health(health_port)[0] == 200, 60, "the worker to be healthy again")
        everyone = {f"c{n}" for n in range(6)}
        # Wait for each of the six, not for six records: a batch re-sent after the outage counts twice.
        _wait(lambda: set(_issued_on_the_topic(kafka_bootstrap)) >= everyone, 60, "the relay to publish")
        subjects = _issued_on_the_topic(kafka_bootstrap)
        # every one published; the questionnaires themselves exist once each (issued() == 6 above). A batch the
        # relay sent just before the database went away, and could not mark, is sent again after: the relay is
        # at-least-once by design and consumers drop the copy by event id.
        assert set(subjects) == everyone
        assert read_dead_letters(kafka_bootstrap, "feedback") == []
        _, report = _health(health_port)
        assert set(report["loops"]) == {"relay", "consumer", "expiry", "escalation"} and report["problems"] == []
    finally:
        producer.close()
        worker.terminate()
        code = worker.wait(timeout=30)
        engine.dispose()
        log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]


def test_a_null_record_is_dead_lettered_as_malformed_and_the_partition_keeps_flowing(
    kafka_bootstrap, kafka_namespace, new_database
):
    from services.feedback.bootstrap import bootstrap
    from shared import worker
    from tests.support.apps import service_runtime

    runtime = service_runtime("feedback", new_database("feedback"), kafka_bootstrap)
    _relay, loop = worker.build(runtime, bootstrap(runtime.settings, runtime))
    producer = make_producer(kafka_bootstrap, "fault-test")
    producer.send(topic_for("scheduling"), key=b"c0", value=None).get(timeout=30)
    _publish(producer, 0)
    producer.close()
    consumer, dlq = loop.consumer_factory(), loop.producer_factory()
    try:
        deadline = time.monotonic() + 60
        while loop.outcomes["handled"] < 2 and time.monotonic() < deadline:
            loop.poll_once(consumer, dlq)
    finally:
        consumer.close()
        dlq.close()
    assert loop.outcomes["handled"] == 2 and loop.outcomes["dead_lettered"] == 1
    [letter] = read_dead_letters(kafka_bootstrap, "feedback")
    assert letter.headers["dlq.reason"] == "malformed"
    runtime.engine.dispose()


def test_an_urgent_alert_that_arrives_before_its_clinician_is_parked_then_delivered(
    kafka_bootstrap, kafka_namespace, new_database, mail
):
    """alert.raised (feedback's topic) reaches notifications before clinician.registered (scheduling's topic):
    the alert waits in the database, is not dead-lettered, and the therapist is emailed once the clinician's
    event arrives."""
    from services.notifications.bootstrap import bootstrap
    from services.notifications.deliveries import Dispatcher
    from services.notifications.smtp_channel import SmtpChannel
    from shared import worker
    from shared.messaging.consumer import PARKED, RELEASED
    from tests.support.apps import service_runtime

    runtime = service_runtime(
        "notifications", new_database("notifications"), kafka_bootstrap, smtp_port=mail.port, rate_per_second=100.0
    )
    _relay, loop = worker.build(runtime, bootstrap(runtime.settings, runtime))
    producer = make_producer(kafka_bootstrap, "fault-test")
    consumer, dlq = loop.consumer_factory(), loop.producer_factory()

    def drain(until) -> None:
        deadline = time.monotonic() + 60
        while not until() and time.monotonic() < deadline:
            loop.poll_once(consumer, dlq)
        assert until(), dict(loop.outcomes)

    def send(spec, data, source: str) -> None:
        event = ev.make(spec, data, subject="c1")
        producer.send(topic_for(source), key=b"c1", value=event.to_json().encode(), headers=event.headers()).get(30)

    try:
        send(events.ALERT_RAISED, ev.alert("urgent"), "feedback")
        drain(lambda: loop.outcomes[PARKED] == 1)
        time.sleep(1.5)  # longer than the old retry budget on the consumer thread
        send(events.CLINICIAN_REGISTERED, ev.clinician(), "scheduling")
        drain(lambda: loop.outcomes[RELEASED] == 1)
    finally:
        consumer.close()
        dlq.close()
        producer.close()
    Dispatcher(runtime.sessions, SmtpChannel(runtime.settings), runtime.settings).dispatch_once()
    [notice] = mail.messages()
    assert notice.to == "ada@practice.example" and notice.subject.startswith("URGENT")
    assert read_dead_letters(kafka_bootstrap, "notifications") == []
    runtime.engine.dispose()


def test_a_fresh_notifications_database_rebuilds_the_directory_from_kafka(
    kafka_bootstrap, kafka_namespace, new_database, mail
):
    """Notifications' database is lost. A fresh worker in the same consumer group (whose offsets are long past
    the directory events) rebuilds clients and clinicians from the compacted directory topic, newest state
    first, and the next invitation and alert go to the right addresses."""
    import threading

    from services.notifications.bootstrap import bootstrap as notifications_bootstrap
    from services.notifications.deliveries import Dispatcher
    from services.notifications.models import Contact
    from services.notifications.smtp_channel import SmtpChannel
    from services.scheduling.bootstrap import bootstrap as scheduling_bootstrap
    from shared import worker
    from shared.messaging.outbox import emit
    from tests.support.apps import service_runtime

    scheduling = service_runtime("scheduling", new_database("scheduling"), kafka_bootstrap)
    relay, _ = worker.build(scheduling, scheduling_bootstrap(scheduling.settings, scheduling))
    with scheduling.sessions() as s, s.begin():
        emit(s, events.CLINICIAN_REGISTERED, ev.clinician(version=1), subject="k1")
        emit(s, events.CLIENT_REGISTERED, ev.client(version=1), subject="c1")
        emit(s, events.CLIENT_UPDATED, ev.client(email="jo.new@example.org", version=2), subject="c1")
    assert relay.publish_pending() == 6  # three events, each also on the directory topic
    relay.close()

    def notifications(db: str):
        runtime = service_runtime(
            "notifications", new_database(db), kafka_bootstrap, smtp_port=mail.port, rate_per_second=100.0
        )
        _relay, loop = worker.build(runtime, notifications_bootstrap(runtime.settings, runtime))
        return runtime, loop

    def contacts(runtime) -> dict:
        with runtime.sessions() as s:
            return {c.id: c.email for c in s.query(Contact)}

    def run(loop, until) -> None:
        stop, deadline = threading.Event(), time.monotonic() + 60
        while not until() and time.monotonic() < deadline:
            loop.one_pass(stop)
        assert until(), dict(loop.outcomes)

    first, loop = notifications("notifications-lost")
    run(loop, lambda: len(contacts(first)) == 2)
    loop._close_clients()  # the first worker's offsets are committed past every directory event
    first.engine.dispose()

    fresh, loop = notifications("notifications-fresh")  # the database is gone; a new one, the same group
    run(loop, lambda: contacts(fresh) == {"c1": "jo.new@example.org", "k1": "ada@practice.example"})
    producer = make_producer(kafka_bootstrap, "fault-test")
    for spec, data in ((events.QUESTIONNAIRE_ISSUED, ev.issued(datetime_in(72))), (events.ALERT_RAISED, ev.alert())):
        event = ev.make(spec, data)
        producer.send(topic_for("feedback"), key=b"c1", value=event.to_json().encode(), headers=event.headers()).get(30)
    producer.close()
    run(loop, lambda: loop.outcomes["handled"] >= 2 and loop.outcomes["parked"] == 0 and _due(fresh) == 2)
    loop._close_clients()
    Dispatcher(fresh.sessions, SmtpChannel(fresh.settings), fresh.settings).dispatch_once()
    assert sorted(m.to for m in mail.messages()) == ["ada@practice.example", "jo.new@example.org"]
    fresh.engine.dispose()
    scheduling.engine.dispose()


def datetime_in(hours: float):
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(hours=hours)


def _due(runtime) -> int:
    from services.notifications.models import Delivery

    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(Delivery).where(Delivery.template != "questionnaire_reminder"))


def test_sigterm_stops_a_busy_worker_within_10_s_and_nothing_is_lost_or_sent_twice(
    kafka_bootstrap, kafka_namespace, tmp_path, mail
):
    """A notifications worker is in the middle of sending 30 invitations (rate-limited) when SIGTERM comes: it
    exits 0 within 10 s with nothing half done; a new worker sends the rest, and every message arrives once."""
    import signal

    from services.notifications.models import Delivery

    url = f"sqlite:///{tmp_path / 'n.db'}"
    upgrade("notifications", url)
    env = {
        **os.environ,
        "NOTIFICATIONS_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ATTUNE_KAFKA_NAMESPACE": kafka_namespace,
        "NOTIFICATIONS_OUTBOX_WAKE_PORT": "0",
        "NOTIFICATIONS_WORKER_HEALTH_PORT": "0",
        "SMTP_PORT": str(mail.port),
        "NOTIFY_RATE_PER_SECOND": "2",  # a batch of 30 takes 15 s: longer than shutdown may
        "NOTIFY_QUIET_START": "00:00",
        "NOTIFY_QUIET_END": "00:00",
    }
    producer = make_producer(kafka_bootstrap, "fault-test")
    for n in range(30):
        client_id = f"c{n}"
        for spec, data, source in (
            (events.CLIENT_REGISTERED, ev.client(client_id, email=f"client{n}@example.org"), "scheduling"),
            (
                events.QUESTIONNAIRE_ISSUED,
                ev.issued(datetime_in(72), assignment_id=f"q{n}", client_id=client_id),
                "feedback",
            ),
        ):
            event = ev.make(spec, data, subject=client_id)
            producer.send(
                topic_for(source), key=client_id.encode(), value=event.to_json().encode(), headers=event.headers()
            ).get(timeout=30)
    producer.close()

    def start():
        log = (tmp_path / f"worker-{time.monotonic_ns()}.log").open("w")
        return subprocess.Popen(
            [sys.executable, "-m", "services.notifications.worker"], env=env, stdout=log, stderr=log
        )

    worker = start()
    _wait(lambda: len(mail.messages()) >= 3, 90, "the worker to be sending")
    began = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=30)
    took = time.monotonic() - began
    assert code == 0 and took < 10, (code, took)
    sent_before = len(mail.messages())
    assert sent_before < 30, "the test needs the worker stopped mid-batch"
    engine = create_engine(url)
    with engine.connect() as conn:
        in_hand = conn.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "sending"))
    assert in_hand == 0  # the delivery in hand was finished, not left half done

    worker = start()
    try:
        _wait(lambda: len(mail.messages()) >= 30, 90, "the rest of the invitations")
        time.sleep(1)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    ids = [m.message["Message-ID"] for m in mail.messages()]
    assert len(ids) == 30 and len(set(ids)) == 30  # each once
    with engine.connect() as conn:
        flagged = conn.scalar(select(func.count()).select_from(Delivery).where(Delivery.possible_duplicate.is_(True)))
    assert flagged == 0
    engine.dispose()


def test_relay_leadership_is_proven_again_after_postgresql_restarts(kafka_bootstrap, kafka_namespace, own_postgres):
    """Two relays share a PostgreSQL database; one leads (advisory lock). PostgreSQL restarts under them: the
    lock died with its connection, so the old leader must not go on believing it leads. Afterwards exactly one
    relay leads and everything committed is published."""
    import threading

    from services.scheduling.bootstrap import bootstrap
    from shared import worker
    from shared.messaging.outbox import emit
    from shared.messaging.tables import OutboxMessage
    from tests.support.apps import service_runtime

    server, admin = own_postgres
    url = create_database(admin)
    runtimes = [service_runtime("scheduling", url, kafka_bootstrap) for _ in range(2)]
    relays = [worker.build(r, bootstrap(r.settings, r), poll_interval=0.2)[0] for r in runtimes]
    stop = threading.Event()
    threads = [threading.Thread(target=r.run, args=(stop,), daemon=True) for r in relays]

    def leaders() -> int:
        return sum(r._lock_conn is not None for r in relays)

    def advisory_locks() -> int:
        engine = create_engine(admin)
        try:
            with engine.connect() as conn:
                return conn.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
        finally:
            engine.dispose()

    def publish(first: int) -> None:
        with runtimes[0].sessions() as s, s.begin():
            for n in range(first, first + 5):
                emit(s, events.CLINICIAN_REGISTERED, ev.clinician(f"k{n}"), subject=f"k{n}")

    def unpublished() -> int:
        with runtimes[0].sessions() as s:
            return s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None)))

    try:
        threads[0].start()
        _wait(lambda: leaders() == 1, 30, "the first relay to lead")
        threads[1].start()
        time.sleep(2)
        assert leaders() == 1 and relays[1]._lock_conn is None  # the second one waits its turn
        publish(0)
        _wait(lambda: unpublished() == 0, 60, "the first events to be published")

        server.halt()
        time.sleep(3)
        server.resume()
        for r in runtimes:
            r.engine.dispose()
        _wait(lambda: (publish(5), True)[1], 60, "the database to take writes again")
        _wait(lambda: unpublished() == 0, 90, "the events committed after the restart to be published")
        time.sleep(3)  # several passes: a relay clinging to a dead lock would show now
        assert leaders() == 1 and advisory_locks() == 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
        for r in runtimes:
            r.engine.dispose()
