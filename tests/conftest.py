"""Fixtures for the real components: Kafka broker, PostgreSQL, SMTP. None of them is skipped when missing:
a test that needs one fails with the reason, so a green run always means they were really exercised."""

from __future__ import annotations

import os
import uuid

import pytest

from deploy.mailsink import MailSink
from deploy.postgres.server import PostgresServer, create_database
from shared.events.catalog import ensure_all_topics
from tests.support import identity  # noqa: F401 - fixes OIDC_ISSUER before any app reads its settings
from tests.support.ports import free_port


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    """A real single-node KRaft broker started from the Maven-fetched jars (or KAFKA_BOOTSTRAP_SERVERS)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    from deploy.kafka import broker

    directory = tmp_path_factory.mktemp("kafka")
    try:
        node = broker.start_single(directory, free_port(), free_port())
    except Exception as exc:  # noqa: BLE001 - reported as a failure, never a skip
        pytest.fail(f"could not start the real Kafka broker: {exc}", pytrace=False)
    yield node.bootstrap
    broker.stop(directory)


@pytest.fixture
def kafka_namespace(kafka_bootstrap, monkeypatch):
    """A fresh topic namespace per test: its own topics and consumer groups on the shared broker."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("ATTUNE_KAFKA_NAMESPACE", namespace)
    ensure_all_topics(kafka_bootstrap, partitions=3)
    return namespace


@pytest.fixture(scope="session")
def postgres_admin_url():
    if os.environ.get("ATTUNE_TEST_POSTGRES_URL"):
        yield os.environ["ATTUNE_TEST_POSTGRES_URL"]
        return
    try:
        server = PostgresServer()
        url = server.start()
    except Exception as exc:  # noqa: BLE001 - reported as a failure, never a skip
        pytest.fail(f"could not start PostgreSQL: {exc}", pytrace=False)
    yield url
    server.stop()


@pytest.fixture
def postgres_url(postgres_admin_url):
    return create_database(postgres_admin_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Run the test on both databases: SQLite (embedded default) and PostgreSQL (production)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return create_database(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request, tmp_path):
    """A factory of fresh, empty databases, all on one backend (each test runs on both): ``new_database(name)``."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / f'{name}.db'}"
    admin = request.getfixturevalue("postgres_admin_url")
    return lambda name: create_database(admin)


@pytest.fixture
def sqlite_urls(tmp_path):
    return {name: f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("scheduling", "feedback", "notifications")}


@pytest.fixture
def mail(tmp_path):
    sink = MailSink(tmp_path / "mail", port=free_port()).start()
    yield sink
    sink.stop()


@pytest.fixture
def stack(kafka_bootstrap, kafka_namespace, sqlite_urls, mail):
    from tests.support.stack import Stack

    s = Stack(sqlite_urls, kafka_bootstrap, mail.port)
    yield s
    s.close()


@pytest.fixture
def postgres_stack(kafka_bootstrap, kafka_namespace, postgres_admin_url, mail):
    """The whole system on PostgreSQL, the production database."""
    from tests.support.stack import Stack

    urls = {name: create_database(postgres_admin_url) for name in ("scheduling", "feedback", "notifications")}
    s = Stack(urls, kafka_bootstrap, mail.port)
    yield s
    s.close()
