"""Kafka clients with every delivery-relevant setting explicit (kafka-python 3 changed several defaults).

Create clients inside the process that uses them (after gunicorn or multiprocessing forks), never at import.
A closed bus (TLS + SCRAM, ``deploy/kafka/secure.py``) is set once per process by ``use_security`` from the
service's settings; every client made here then carries it.
"""

from __future__ import annotations

import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import NodeNotReadyError, NotControllerError, TopicAlreadyExistsError, UnknownBrokerIdError

_security: dict = {}


def use_security(config: dict) -> None:
    """kafka-python's security settings for every client this process makes (empty: plaintext)."""
    _security.clear()
    _security.update(config)


def make_producer(bootstrap: str, client_id: str) -> KafkaProducer:
    return KafkaProducer(
        **_security,
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        retries=2**31 - 1,
        delivery_timeout_ms=30_000,
        request_timeout_ms=10_000,
        max_block_ms=10_000,
        linger_ms=5,
        reconnect_backoff_max_ms=2_000,
    )


def make_consumer(bootstrap: str, group: str, topics: list[str], client_id: str) -> KafkaConsumer:
    return KafkaConsumer(
        *topics,
        **_security,
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=100,
        max_poll_interval_ms=300_000,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        reconnect_backoff_max_ms=2_000,
    )


def make_reader(bootstrap: str, client_id: str, request_timeout_ms: int = 305_000) -> KafkaConsumer:
    """A consumer outside any group, for reading a topic from the start (assign + seek), committing nothing.
    ``request_timeout_ms`` also bounds offset look-ups (a metrics scrape must not hang on a lost broker)."""
    return KafkaConsumer(
        **_security,
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        reconnect_backoff_max_ms=2_000,
        request_timeout_ms=request_timeout_ms,
    )


def make_admin(bootstrap: str, client_id: str) -> KafkaAdminClient:
    return KafkaAdminClient(**_security, bootstrap_servers=bootstrap, client_id=client_id, request_timeout_ms=10_000)


def ensure_topics(
    bootstrap: str,
    topics: list[str],
    partitions: int = 3,
    replication: int = 1,
    min_insync: int = 1,
    compacted: bool = False,
) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are). A cluster that has just
    started may name a controller its metadata does not list yet: that is retried for up to 60 s."""
    configs = {"min.insync.replicas": str(min_insync)}
    if compacted:  # the latest record per key is kept for ever: a state snapshot, not a history
        configs["cleanup.policy"] = "compact"
    deadline = time.monotonic() + 60
    while True:
        admin = KafkaAdminClient(
            **_security, bootstrap_servers=bootstrap, client_id="attune-admin", request_timeout_ms=30_000
        )
        try:
            existing = set(admin.list_topics())
            new = [
                NewTopic(name=t, num_partitions=partitions, replication_factor=replication, topic_configs=configs)
                for t in topics
                if t not in existing
            ]
            if new:
                try:
                    admin.create_topics(new, timeout_ms=30_000)
                except TopicAlreadyExistsError:
                    pass
            return
        except (UnknownBrokerIdError, NodeNotReadyError, NotControllerError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
        finally:
            admin.close()
