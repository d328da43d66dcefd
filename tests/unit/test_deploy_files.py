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
        "OIDC_ISSUER",
        "OIDC_CLIENT_SECRET",
        "SMTP_PASSWORD",
        "ALERT_ONCALL_ADDRESS",
        "FEEDBACK_PUBLIC_URL",
    )
    for name in required:
        assert ":?" in env[name], f"{name} must be required, not defaulted"
    assert env["ATTUNE_ENV"] == "production"
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


def test_each_service_gets_its_own_bus_account_and_only_the_secrets_it_uses():
    services = _compose()["services"]
    needs = {
        "scheduling": {"ATTUNE_LINK_SECRET", "OIDC_ADMIN_CLIENT_SECRET", "ATTUNE_LINK_KEY"},
        "feedback": {"ATTUNE_LINK_KEY"},
        "notifications": {"ATTUNE_LINK_SECRET", "ATTUNE_LINK_KEY", "SMS_AUTH_TOKEN"},
    }
    secrets = {"ATTUNE_LINK_SECRET", "ATTUNE_LINK_KEY", "OIDC_ADMIN_CLIENT_SECRET", "SMS_AUTH_TOKEN"}
    for service, wanted in needs.items():
        for process in (service, f"{service}-worker"):
            env = services[process]["environment"]
            assert env["KAFKA_SASL_USERNAME"] == service and ":?" in env["KAFKA_SASL_PASSWORD"]
            assert secrets & set(env) == wanted, process
            assert all(":?" in env[name] for name in wanted)


def test_the_brokers_run_the_closed_bus_profile():
    compose = _compose()
    kafka = compose["services"]["kafka-1"]["environment"]
    assert kafka["KAFKA_LISTENERS"].startswith("SASL_SSL://")
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert (
        "keycloak" in compose["services"]
        and "CREATE DATABASE keycloak" in (DEPLOY / "postgres" / "create-databases.sql").read_text()
    )


def test_each_worker_is_health_checked_and_restarted():
    services = _compose()["services"]
    compose = _compose()
    for name in ("scheduling-worker", "feedback-worker", "notifications-worker"):
        assert "healthcheck" in services[name]
    assert compose["x-attune"]["restart"] == "unless-stopped"


def test_the_access_matrix_in_docs_is_the_one_the_policy_tables_make():
    from deploy.security_matrix import DOC, block

    assert block() in DOC.read_text(), "run: python -m deploy.security_matrix --write"


def test_a_cluster_id_never_looks_like_an_option_to_the_storage_tool():
    from deploy.kafka.broker import random_cluster_id

    ids = [random_cluster_id() for _ in range(2000)]  # about 31 of them would start with "-" by chance
    assert all(not i.startswith("-") and len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
