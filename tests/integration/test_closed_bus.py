"""The closed bus on a real broker (the production profile): TLS and SCRAM-SHA-512 accounts, and ACLs so each
service writes only its own topics and reads only what it consumes."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from deploy.kafka import broker, secure
from services.feedback.settings import FeedbackSettings
from shared.messaging import kafka_clients
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def closed_bus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("kafka-secure")
    try:
        bus = secure.start(directory, free_port(), free_port())
    except Exception as exc:  # noqa: BLE001 - reported as a failure, never a skip
        pytest.fail(f"could not start the closed-bus broker: {exc}", pytrace=False)
    namespace = f"s{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTUNE_KAFKA_NAMESPACE", namespace)
        secure.grant(bus, namespace)
    yield bus, namespace
    broker.stop(directory)


def _send(bus, user: str, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=bus.node.bootstrap, max_block_ms=10_000, **bus.client_config(user))
    try:
        producer.send(topic, b"{}", key=b"k").get(timeout=15)
    finally:
        producer.close()


def test_a_service_connects_with_its_own_settings_over_tls_and_scram(closed_bus):
    bus, ns = closed_bus
    settings = FeedbackSettings.from_env(bus.environment("feedback"))
    kafka_clients.use_security(settings.kafka_security())
    try:
        producer = kafka_clients.make_producer(bus.node.bootstrap, "feedback-relay")
        metadata = producer.send(f"{ns}.feedback", b"{}", key=b"c1").get(timeout=15)
        producer.close()
    finally:
        kafka_clients.use_security({})
    assert metadata.topic == f"{ns}.feedback" and metadata.offset >= 0


def test_feedback_is_denied_writing_the_scheduling_topic(closed_bus):
    bus, ns = closed_bus
    with pytest.raises(TopicAuthorizationFailedError):
        _send(bus, "feedback", f"{ns}.scheduling")
    _send(bus, "scheduling", f"{ns}.scheduling")  # its owner may


def test_notifications_cannot_read_what_it_does_not_consume(closed_bus):
    bus, ns = closed_bus
    assert f"{ns}.dlq.feedback" not in {t for _, t, _, _ in secure.service_acls("notifications", ns)}
    reader = KafkaConsumer(bootstrap_servers=bus.node.bootstrap, **bus.client_config("notifications"))
    try:
        assert f"{ns}.dlq.feedback" not in reader.topics()  # not even its name
        assert f"{ns}.feedback" in reader.topics()  # it consumes feedback's events
        assert f"{ns}.scheduling.directory" in reader.topics()  # and the client directory
    finally:
        reader.close()


def test_plaintext_or_a_wrong_password_gets_nowhere(closed_bus):
    bus, ns = closed_bus
    quick = {"max_block_ms": 4_000, "request_timeout_ms": 3_000, "api_version": (2, 8)}  # no version probe
    wrong = {**bus.client_config("feedback"), "sasl_plain_password": "not-the-password"}
    for config in ({}, wrong):
        with pytest.raises((KafkaError, OSError)):
            producer = KafkaProducer(bootstrap_servers=bus.node.bootstrap, **quick, **config)
            producer.send(f"{ns}.feedback", b"x").get(5)
