"""The compose file cannot be run here (no Docker engine), so what can be checked without running it is:
three brokers with replication 3 / 2, a database per service, and every secret and required setting."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_three_brokers_and_durable_topics():
    compose = _compose()
    brokers = [name for name in compose["services"] if name.startswith("kafka-")]
    assert len(brokers) == 3
    env = compose["x-attune"]["environment"]
    assert env["KAFKA_REPLICATION_FACTOR"] == "3" and env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert env["KAFKA_BOOTSTRAP_SERVERS"].count("kafka-") == 3


def test_a_database_per_service_is_created_and_used():
    compose = _compose()
    env = compose["x-attune"]["environment"]
    created = (DEPLOY / "postgres" / "create-databases.sql").read_text()
    for service in ("scheduling", "feedback", "notifications"):
        assert env[f"{service.upper()}_DATABASE_URL"].endswith(f"@postgres/{service}")
        assert f"CREATE DATABASE {service}" in created
    mounts = compose["services"]["postgres"]["volumes"]
    assert any("create-databases.sql:/docker-entrypoint-initdb.d/" in m for m in mounts)


def test_every_secret_and_production_setting_is_required():
    env = _compose()["x-attune"]["environment"]
    required = (
        "ATTUNE_SECRET_KEY",
        "ATTUNE_AUTH_SECRET",
        "ATTUNE_LINK_SECRET",
        "SMTP_PASSWORD",
        "ALERT_ONCALL_ADDRESS",
        "FEEDBACK_PUBLIC_URL",
    )
    for name in required:
        assert ":?" in env[name], f"{name} must be required, not defaulted"
    assert env["ATTUNE_ENV"] == "production"


def test_each_worker_is_health_checked_and_restarted():
    services = _compose()["services"]
    compose = _compose()
    for name in ("scheduling-worker", "feedback-worker", "notifications-worker"):
        assert "healthcheck" in services[name]
    assert compose["x-attune"]["restart"] == "unless-stopped"
