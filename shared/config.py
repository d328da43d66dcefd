"""Settings common to every service, read from the environment once, in one place.

Each service has its own ``services/<name>/settings.py`` whose dataclass extends ``CommonSettings`` with what
only that service uses. Nothing else in ``services/`` or ``shared/`` reads ``os.environ``: code is handed a
settings object (or a value from one) by the composition root.

| variable | meaning | default |
| --- | --- | --- |
| ``<SERVICE>_DATABASE_URL`` / ``DATABASE_URL`` | the service's own database | SQLite in ``$ATTUNE_VAR_DIR`` |
| ``ATTUNE_VAR_DIR`` | where the SQLite files live | ``var`` |
| ``KAFKA_BOOTSTRAP_SERVERS`` | the Kafka cluster | ``127.0.0.1:9092`` |
| ``ATTUNE_KAFKA_NAMESPACE`` | prefix of topics and consumer groups | ``attune`` |
| ``<SERVICE>_OUTBOX_WAKE_PORT`` | loopback UDP port that wakes the relay after a commit (0: timer only) | 7101-7103 |
| ``<SERVICE>_WORKER_HEALTH_PORT`` | the worker's loopback health endpoint (503 with reasons; 0: off) | 7201-7203 |
| ``WORKER_STALL_SECONDS`` | a worker loop with no progress for this long makes the worker unhealthy | 300 |
| ``KAFKA_PARTITIONS`` | partitions of the topics a worker creates at start (existing ones are left alone) | 6 |
| ``KAFKA_REPLICATION_FACTOR`` | copies of each of those topics (a three-broker cluster: 3) | 1 |
| ``KAFKA_MIN_INSYNC_REPLICAS`` | copies that must acknowledge a write (a three-broker cluster: 2) | 1 |
| ``ATTUNE_ENV`` | ``production`` refuses to start with unsafe settings | ``development`` |
| ``PARK_TIMEOUT_HOURS`` | an event waiting for an entity from another topic is dead-lettered after this | 24 |
| ``<SERVICE>_SECRET_KEY`` / ``ATTUNE_SECRET_KEY`` | Flask session and form signing | a development value |
| ``ATTUNE_AUTH_SECRET`` | signs staff tokens (stand-in sign-in) | a development value |
| ``ATTUNE_LINK_SECRET`` | signs reminder and unsubscribe links (written by notifications) | a development value |
| ``<SERVICE>_PUBLIC_URL`` | each service's public base URL, used in emails and links | ``http://127.0.0.1:800N`` |
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

SERVICES = ("scheduling", "feedback", "notifications")
DEFAULT_PORTS = {"scheduling": 8001, "feedback": 8002, "notifications": 8003}
DEFAULT_WAKE_PORTS = {"scheduling": 7101, "feedback": 7102, "notifications": 7103}
DEFAULT_HEALTH_PORTS = {"scheduling": 7201, "feedback": 7202, "notifications": 7203}
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEV_SECRET_KEY = "dev-only-secret-change-me"  # noqa: S105 - development defaults; production sets its own
DEV_AUTH_SECRET = "dev-only-auth-secret-change-me"  # noqa: S105
DEV_LINK_SECRET = "dev-only-link-secret-change-me"  # noqa: S105


def kafka_namespace(env: Mapping[str, str] | None = None) -> str:
    """Topic and consumer-group prefix. Process-wide (a deployment, or a test, sets its own), so it is read
    where topics are named rather than threaded through every call."""
    return (os.environ if env is None else env).get("ATTUNE_KAFKA_NAMESPACE", "attune")


def var_dir(env: Mapping[str, str] | None = None) -> Path:
    return Path((os.environ if env is None else env).get("ATTUNE_VAR_DIR", "var"))


def default_sqlite_url(service: str, env: Mapping[str, str] | None = None) -> str:
    directory = var_dir(env)
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(directory / f'{service}.db').resolve()}"


def database_url(service: str, env: Mapping[str, str] | None = None) -> str:
    """The service's own database: ``<SERVICE>_DATABASE_URL``, else ``DATABASE_URL``, else its SQLite file."""
    env = os.environ if env is None else env
    return env.get(f"{service.upper()}_DATABASE_URL") or env.get("DATABASE_URL") or default_sqlite_url(service, env)


def kafka_bootstrap(env: Mapping[str, str] | None = None) -> str:
    return (os.environ if env is None else env).get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP)


def auth_secret(env: Mapping[str, str] | None = None) -> str:
    return (os.environ if env is None else env).get("ATTUNE_AUTH_SECRET", DEV_AUTH_SECRET)


def csv_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


@dataclass(kw_only=True)
class CommonSettings:
    """What every service needs: where its database and the broker are, its secrets and the public URLs."""

    database_url: str = "sqlite://"  # in memory: a settings object built without the environment (tests)
    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    wake_port: int | None = None
    secret_key: str = DEV_SECRET_KEY
    auth_secret: str = DEV_AUTH_SECRET
    link_secret: str = DEV_LINK_SECRET
    public_urls: dict[str, str] = field(
        default_factory=lambda: {name: f"http://127.0.0.1:{port}" for name, port in DEFAULT_PORTS.items()}
    )
    worker_health_port: int | None = None
    worker_stall_seconds: float = 300.0
    park_timeout_hours: float = 24.0
    kafka_partitions: int = 6
    kafka_replication_factor: int = 1  # a cluster: 3
    kafka_min_insync_replicas: int = 1  # a cluster: 2 (a write is acknowledged by two brokers)
    environment: str = "development"  # ATTUNE_ENV; "production" refuses unsafe settings at start-up
    testing: bool = False

    SERVICE: ClassVar[str] = ""  # set by each service's subclass

    @property
    def service(self) -> str:
        return self.SERVICE

    @classmethod
    def common_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        service = cls.SERVICE
        prefix = service.upper()
        wake = env.get(f"{prefix}_OUTBOX_WAKE_PORT", str(DEFAULT_WAKE_PORTS[service]))
        health = env.get(f"{prefix}_WORKER_HEALTH_PORT", str(DEFAULT_HEALTH_PORTS[service]))
        return {
            "database_url": database_url(service, env),
            "kafka_bootstrap": kafka_bootstrap(env),
            "wake_port": int(wake) if wake and wake != "0" else None,
            "worker_health_port": int(health) if health and health != "0" else None,
            "worker_stall_seconds": float(env.get("WORKER_STALL_SECONDS", 300)),
            "park_timeout_hours": float(env.get("PARK_TIMEOUT_HOURS", 24)),
            "kafka_partitions": int(env.get("KAFKA_PARTITIONS", 6)),
            "kafka_replication_factor": int(env.get("KAFKA_REPLICATION_FACTOR", 1)),
            "kafka_min_insync_replicas": int(env.get("KAFKA_MIN_INSYNC_REPLICAS", 1)),
            "environment": env.get("ATTUNE_ENV", "development"),
            "secret_key": env.get(f"{prefix}_SECRET_KEY") or env.get("ATTUNE_SECRET_KEY", DEV_SECRET_KEY),
            "auth_secret": auth_secret(env),
            "link_secret": env.get("ATTUNE_LINK_SECRET", DEV_LINK_SECRET),
            "public_urls": {
                name: env.get(f"{name.upper()}_PUBLIC_URL", f"http://127.0.0.1:{port}")
                for name, port in DEFAULT_PORTS.items()
            },
        }

    @classmethod
    def service_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The service's own variables (overridden by each subclass)."""
        return {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Self:
        """Read every variable once; ``overrides`` (tests, tools) win over the environment."""
        env = os.environ if env is None else env
        values = {**cls.common_from_env(env), **cls.service_from_env(env), **overrides}
        return cls(**values)

    def replace(self, **changes) -> Self:
        return dataclasses.replace(self, **changes)

    def public_url(self, service: str) -> str:
        return self.public_urls[service].rstrip("/")
