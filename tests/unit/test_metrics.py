"""Metrics count what happened and read state at scrape time; a source that cannot be read costs the scrape its
gauges, never the endpoint."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from services.feedback.settings import FeedbackSettings
from shared import metrics
from shared.db import transaction, utcnow
from shared.events import catalog as events
from shared.events.envelope import Event
from shared.messaging.backlog_metrics import messaging_state
from shared.messaging.consumer import ConsumerLoop, RetryPolicy
from shared.messaging.tables import MessagingBase, OutboxMessage
from shared.runtime import Runtime
from tests.support.fakes import FakeProducer, Record


def _runtime(tmp_path) -> Runtime:
    runtime = Runtime.build(FeedbackSettings(database_url=f"sqlite:///{tmp_path}/f.db"))
    MessagingBase.metadata.create_all(runtime.engine)
    return runtime


def _samples(registry) -> dict:
    text = metrics.exposition(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_the_outbox_backlog_and_its_age_are_read_when_scraped(tmp_path):
    runtime = _runtime(tmp_path)
    now = utcnow()
    with transaction(runtime.sessions) as session:
        for n, (created, published) in enumerate([(now - timedelta(seconds=90), None), (now, None), (now, now)]):
            session.add(OutboxMessage(event_id=f"e{n}", event_type="t", topic="x", key="k", payload="{}", headers=[],
                                      created_at=created, published_at=published))  # fmt: skip
    registry = metrics.registry_with(metrics.DatabaseState("feedback", runtime.sessions, [messaging_state("feedback")],
                                                           lambda: now))  # fmt: skip
    found = _samples(registry)
    service = (("service", "feedback"),)
    assert found[("attune_outbox_unpublished_rows", service)] == 2
    assert found[("attune_outbox_oldest_unpublished_age_seconds", service)] == 90
    assert found[("attune_outbox_published_rows_total", service)] == 1
    assert found[("attune_outbox_parked_rows", service)] == 0


def test_an_unreadable_database_or_broker_costs_only_those_gauges(tmp_path):
    def broken_sessions():
        raise OSError("the database is away")

    def broken_clients():
        raise OSError("the brokers are away")

    before = REGISTRY.get_sample_value("attune_metrics_scrape_errors_total", {"service": "x", "source": "kafka"}) or 0
    registry = metrics.registry_with(
        metrics.DatabaseState("x", broken_sessions, [messaging_state("x")], utcnow),
        metrics.KafkaState("x", "g", ["t"], "dlq", broken_clients),
    )
    found = _samples(registry)
    assert not any(name == "attune_outbox_unpublished_rows" for name, _ in found)
    assert ("attune_smtp_operational_faults_total", ()) in found  # the process's own metrics still answer
    after = REGISTRY.get_sample_value("attune_metrics_scrape_errors_total", {"service": "x", "source": "kafka"})
    assert after == before + 1


def test_the_consumer_counts_each_outcome_by_event_type(tmp_path):
    runtime = _runtime(tmp_path)
    loop = ConsumerLoop("metrics-test", {events.CLIENT_DISCHARGED: lambda s, e: None}, runtime.sessions, None, None,
                        RetryPolicy(max_attempts=1, base_delay=0.001))  # fmt: skip
    spec = events.CLIENT_DISCHARGED
    data = {"client_id": "c1", "episode_id": None, "discharged_at": "2026-01-01T00:00:00+00:00"}
    record = Record(Event(type=spec.type, source=spec.source, subject="c1", data=data).to_json().encode())
    producer = FakeProducer()
    loop.process(record, producer)
    loop.process(record, producer)
    loop.process(Record(b"not json"), producer)

    def value(event_type, outcome):
        labels = {"group": "metrics-test", "event_type": event_type, "outcome": outcome}
        return REGISTRY.get_sample_value("attune_consumer_records_total", labels)

    assert value(spec.type, "handled") == 1
    assert value(spec.type, "duplicate") == 1
    assert value("unparseable", "dead_lettered") == 1
    count = REGISTRY.get_sample_value("attune_consumer_handler_seconds_count", {"group": "metrics-test",
                                                                                "event_type": spec.type})  # fmt: skip
    assert count == 1
