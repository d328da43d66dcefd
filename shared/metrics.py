"""Prometheus metrics: every metric's name in one place, and the collectors that read state when scraped.

What a process *does* (records handled, handler latency, HTTP requests, SMTP faults, alert-notice latency) is
counted in the process. What the database or Kafka already *holds* (outbox backlog, parked events, deliveries
by state, open alerts, questionnaires, consumer lag, dead-letter depth) is read at scrape time, so it survives
restarts and every replica reports the same value (aggregate those with ``max``).

No label ever carries a client id, a name, an address, an answer or a raw path: labels are services, consumer
groups, event types, route templates, HTTP statuses, delivery kinds and states, severities and partitions.

Where each is served: a worker's ``/metrics`` on its loopback health port (``<SERVICE>_WORKER_HEALTH_PORT``);
a web service's on a separate loopback port (``<SERVICE>_METRICS_PORT``), served by the gunicorn master in
prometheus-client's multiprocess mode (``deploy/gunicorn_conf.py``): never on the public port.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from shared import logs

log = logs.get("metrics")
disable_created_metrics()  # a ``_created`` series beside every counter only doubles the scrape

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# -- what a process does ---------------------------------------------------------------------------------------

CONSUMER_RECORDS = Counter(
    "attune_consumer_records",
    "Records a consumer group finished with, by event type and outcome (handled, duplicate, dead_lettered, "
    "parked, released, ignored; failed and waiting_for_infrastructure count attempts that will be retried)",
    ["group", "event_type", "outcome"],
)
CONSUMER_HANDLER_SECONDS = Histogram(
    "attune_consumer_handler_seconds",
    "Time to handle one event: inbox row, handler and commit, in one transaction",
    ["group", "event_type"],
    buckets=LATENCY_BUCKETS,
)
RELAY_PUBLISHED = Counter("attune_relay_published", "Outbox rows published and acknowledged by Kafka", ["service"])
SMTP_OPERATIONAL_FAULTS = Counter(
    "attune_smtp_operational_faults",
    "Messages the mail server refused for a reason on our side (authentication, sender, TLS): kept and retried",
)
ALERT_NOTICE_SECONDS = Histogram(
    "attune_alert_notice_seconds",
    "From an alert being raised (the client's submission, or the escalation) to its notice being accepted by "
    "the mail server",
    ["recipient"],  # therapist | backup (supervisor, on-call)
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 14400),
)
HTTP_REQUEST_SECONDS = Histogram(
    "attune_http_request_seconds",
    "HTTP requests by route template (never the raw path: a path can carry a token) and status",
    ["service", "method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
SCRAPE_ERRORS = Counter(
    "attune_metrics_scrape_errors",
    "Scrapes that could not read a source (the database or Kafka was unreachable): those gauges are missing",
    ["service", "source"],
)


# -- what the database and Kafka hold ----------------------------------------------------------------------------

Reader = Callable[[object, datetime], Iterable]  # (session, now) -> metric families


def gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def counter(name: str, documentation: str, labels: Iterable[str] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, labels=list(labels))


class DatabaseState(Collector):
    """Gauges read from the service's database when scraped, by the service's readers. An unreachable database
    costs the scrape those gauges (and counts a scrape error), never the endpoint."""

    def __init__(self, service: str, sessions, readers: Iterable[Reader], clock: Callable[[], datetime]):
        self.service, self.sessions, self.readers, self.clock = service, sessions, tuple(readers), clock

    def collect(self):
        try:
            with self.sessions() as session:
                now = self.clock()
                families = [family for read in self.readers for family in read(session, now)]
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even while the database is down
            SCRAPE_ERRORS.labels(self.service, "database").inc()
            log.warning("metrics.database_unreadable", error=logs.safe_error(exc))
            return
        yield from families


class KafkaState(Collector):
    """Consumer lag per partition (end offset minus the group's committed offset) and dead-letter depth, read
    from the brokers when scraped with clients of its own (never the consumer loop's, which is not thread-safe)."""

    def __init__(self, service: str, group: str, topics: Iterable[str], dead_letter_topic: str, clients):
        """``clients()`` -> (admin client, reader): made on first scrape, made again after a failure."""
        self.service, self.group, self.topics, self.dlq = service, group, tuple(topics), dead_letter_topic
        self.clients = clients
        self._held = None
        self._lock = threading.Lock()

    def collect(self):
        with self._lock:
            try:
                families = self._read()
            except Exception as exc:  # noqa: BLE001 - a scrape must answer even while the brokers are down
                SCRAPE_ERRORS.labels(self.service, "kafka").inc()
                log.warning("metrics.kafka_unreadable", error=logs.safe_error(exc))
                self._close()
                return
        yield from families

    def _read(self) -> list:
        from kafka import TopicPartition

        if self._held is None:
            self._held = self.clients()
        admin, reader = self._held
        parts = [TopicPartition(t, p) for t in self.topics for p in sorted(reader.partitions_for_topic(t) or ())]
        dlq_parts = [TopicPartition(self.dlq, p) for p in sorted(reader.partitions_for_topic(self.dlq) or ())]
        committed = admin.list_group_offsets(self.group).get(self.group, {})
        end = reader.end_offsets(parts + dlq_parts)
        start = reader.beginning_offsets(parts + dlq_parts)
        lag = gauge(
            "attune_consumer_lag",
            "Records on a partition the group has not committed yet (end offset minus committed offset)",
            ["group", "topic", "partition"],
        )
        for tp in parts:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else start[tp]
            lag.add_metric([self.group, tp.topic, str(tp.partition)], max(0, end[tp] - position))
        depth = gauge("attune_dead_letters", "Records in the group's dead-letter topic", ["group"])
        depth.add_metric([self.group], sum(end[tp] - start[tp] for tp in dlq_parts))
        return [lag, depth]

    def _close(self) -> None:
        held, self._held = self._held, None
        for client in held or ():
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken client must not break the scrape
                log.info("metrics.client_close_failed")


class _Everything(Collector):
    """The process's own metrics (the default registry) inside another registry."""

    def collect(self):
        yield from REGISTRY.collect()


def registry_with(*collectors: Collector) -> CollectorRegistry:
    """A registry holding this process's own metrics and ``collectors`` (read at scrape time)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Everything())
    for collector in collectors:
        registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
