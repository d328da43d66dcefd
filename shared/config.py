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
| ``<SERVICE>_METRICS_PORT`` | loopback port of the web service's ``/metrics`` (gunicorn master; 0: off) | 9101-9103 |
| ``WORKER_STALL_SECONDS`` | a worker loop with no progress for this long makes the worker unhealthy | 300 |
| ``KAFKA_SECURITY_PROTOCOL`` | ``SASL_SSL``: a closed bus (TLS + SCRAM-SHA-512), required in production | plaintext |
| ``KAFKA_SASL_USERNAME`` / ``KAFKA_SASL_PASSWORD`` | this service's bus account (ACLs: its own topics) | none |
| ``KAFKA_SSL_CAFILE`` | the CA that signed the brokers' certificates (PEM) | the system's |
| ``KAFKA_PARTITIONS`` | partitions of the topics a worker creates at start (existing ones are left alone) | 6 |
| ``KAFKA_REPLICATION_FACTOR`` | copies of each of those topics (a three-broker cluster: 3) | 1 |
| ``KAFKA_MIN_INSYNC_REPLICAS`` | copies that must acknowledge a write (a three-broker cluster: 2) | 1 |
| ``ATTUNE_ENV`` | ``production`` refuses to start with unsafe settings | ``development`` |
| ``PARK_TIMEOUT_HOURS`` | an event waiting for an entity from another topic is dead-lettered after this | 24 |
| ``<SERVICE>_SECRET_KEY`` / ``ATTUNE_SECRET_KEY`` | Flask session and form signing | a development value |
| ``OIDC_ISSUER`` | the staff identity provider (OpenID Connect issuer URL) | the embedded Keycloak's ``attune`` realm |
| ``OIDC_CLIENT_ID`` / ``OIDC_CLIENT_SECRET`` | this service's OIDC client | ``attune-<service>`` / dev value |
| ``OIDC_ADMIN_CLIENT_ID`` / ``_SECRET`` | Keycloak account that invites and disables staff | ``attune-admin`` / dev |
| ``OIDC_AUDIENCE`` | the audience every bearer access token must carry | ``attune`` |
| ``OIDC_ROLES_CLAIM`` | the claim (dotted path) listing a user's roles or groups | ``roles`` |
| ``OIDC_ROLE_MAP`` | provider role or group = Attune role, comma separated (``sg-x=clinician``) | the four roles |
| ``OIDC_CLINICIAN_CLAIM`` | the claim carrying a clinician's id in scheduling | ``clinician_id`` |
| ``STAFF_SESSION_IDLE_MINUTES`` / ``..._MAX_HOURS`` | a page sign-in ends when idle this long / this old | 30 / 12 |
| ``PUBLIC_LINK_RATE_LIMIT`` | requests per address to a link page (``/q/``, ``/r/``, ``.ics``...) | 60/minute |
| ``AUDIT_RETENTION_DAYS`` | audit records older than this are dropped by ``flask prune-audit`` | 2555 (7 years) |
| ``ATTUNE_PROXY_HOPS`` | TLS-terminating proxies in front of the services (trusted ``X-Forwarded-*`` hops) | 0 |
| ``ATTUNE_LINK_KEY`` | seals questionnaire links on the bus (Fernet key; feedback, notifications) | dev value |
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
DEFAULT_METRICS_PORTS = {"scheduling": 9101, "feedback": 9102, "notifications": 9103}
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEV_SECRET_KEY = "dev-only-secret-change-me"  # noqa: S105 - development defaults; production sets its own
DEV_OIDC_CLIENT_SECRET = "dev-only-oidc-client-secret"  # noqa: S105 - the embedded dev realm
DEFAULT_OIDC_ISSUER = "http://127.0.0.1:8180/realms/attune"
ROLES = ("frontdesk", "clinician", "supervisor", "admin")
DEV_LINK_SECRET = "dev-only-link-secret-change-me"  # noqa: S105
DEV_LINK_KEY = "ZGV2LW9ubHktbGluay1rZXktY2hhbmdlLW1lLTAwMDA="  # noqa: S105 - base64 of 32 dev-only bytes


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


def role_map(raw: str) -> dict[str, str]:
    """``"sg-therapists=clinician,desk=frontdesk"`` -> a mapping; the four role names always map to themselves."""
    mapping = {role: role for role in ROLES}
    for pair in csv_list(raw):
        name, _, role = pair.partition("=")
        if role.strip() not in ROLES:
            raise ValueError(f"OIDC_ROLE_MAP: {role.strip()!r} is not one of {', '.join(ROLES)}")
        mapping[name.strip()] = role.strip()
    return mapping


def csv_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


@dataclass(kw_only=True)
class CommonSettings:
    """What every service needs: where its database and the broker are, its secrets and the public URLs."""

    database_url: str = "sqlite://"  # in memory: a settings object built without the environment (tests)
    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    wake_port: int | None = None
    secret_key: str = DEV_SECRET_KEY
    oidc_issuer: str = DEFAULT_OIDC_ISSUER
    oidc_client_id: str = ""  # "attune-<service>" when empty
    oidc_client_secret: str = DEV_OIDC_CLIENT_SECRET
    oidc_audience: str = "attune"
    oidc_admin_client_id: str = "attune-admin"
    oidc_admin_client_secret: str = DEV_OIDC_CLIENT_SECRET
    oidc_roles_claim: str = "roles"
    oidc_role_map: dict[str, str] = field(default_factory=lambda: role_map(""))
    oidc_clinician_claim: str = "clinician_id"
    session_idle_minutes: float = 30.0
    session_max_hours: float = 12.0
    proxy_hops: int = 0
    public_link_rate_limit: str = "60 per minute"
    audit_retention_days: float = 2555.0
    link_secret: str = DEV_LINK_SECRET
    link_key: str = DEV_LINK_KEY
    public_urls: dict[str, str] = field(
        default_factory=lambda: {name: f"http://127.0.0.1:{port}" for name, port in DEFAULT_PORTS.items()}
    )
    worker_health_port: int | None = None
    metrics_port: int | None = None  # the web service's /metrics (served by the gunicorn master)
    worker_stall_seconds: float = 300.0
    park_timeout_hours: float = 24.0
    kafka_partitions: int = 6
    kafka_replication_factor: int = 1  # a cluster: 3
    kafka_min_insync_replicas: int = 1  # a cluster: 2 (a write is acknowledged by two brokers)
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: str | None = None
    environment: str = "development"  # ATTUNE_ENV; "production" refuses unsafe settings at start-up
    testing: bool = False

    SERVICE: ClassVar[str] = ""  # set by each service's subclass
    USES_LINK_KEY: ClassVar[bool] = False  # feedback and scheduling seal links for the bus, notifications opens them

    def __post_init__(self):
        if self.environment == "production":
            problems = self.production_problems()
            if problems:
                raise ValueError("refusing to start in production: " + "; ".join(problems))

    def production_problems(self) -> list[str]:
        """What makes these settings unsafe to run with real client records (each names its setting)."""
        problems = []
        defaults = {
            "ATTUNE_SECRET_KEY (or <SERVICE>_SECRET_KEY)": (self.secret_key, DEV_SECRET_KEY),
            "ATTUNE_LINK_SECRET": (self.link_secret, DEV_LINK_SECRET),
            "OIDC_CLIENT_SECRET": (self.oidc_client_secret, DEV_OIDC_CLIENT_SECRET),
        }
        for name, (value, default) in defaults.items():
            if not value or value == default or len(value) < 16:
                problems.append(f"{name} is unset, a development default or shorter than 16 characters")
        if self.USES_LINK_KEY and self.link_key == DEV_LINK_KEY:
            problems.append("ATTUNE_LINK_KEY is unset or the development key (make one: Fernet.generate_key())")
        if self.kafka_security_protocol != "SASL_SSL" or not self.kafka_sasl_password:
            problems.append("KAFKA_SECURITY_PROTOCOL must be SASL_SSL, with KAFKA_SASL_USERNAME and _PASSWORD")
        if not self.oidc_issuer.startswith("https://"):
            problems.append("OIDC_ISSUER must be an https:// URL")
        for name, url in self.public_urls.items():
            if not url.startswith("https://"):
                problems.append(f"{name.upper()}_PUBLIC_URL must be an https:// URL")
        return problems

    @property
    def service(self) -> str:
        return self.SERVICE

    def kafka_security(self) -> dict:
        """kafka-python settings for this service's bus account (empty on a plaintext development bus)."""
        if self.kafka_security_protocol == "PLAINTEXT":
            return {}
        config = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            config |= {
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password,
            }
        if self.kafka_ssl_cafile:
            config["ssl_cafile"] = self.kafka_ssl_cafile
        return config

    @property
    def client_id(self) -> str:
        """This service's OpenID Connect client (one per service, as the embedded realm declares)."""
        return self.oidc_client_id or f"attune-{self.SERVICE}"

    @classmethod
    def common_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        service = cls.SERVICE
        prefix = service.upper()
        wake = env.get(f"{prefix}_OUTBOX_WAKE_PORT", str(DEFAULT_WAKE_PORTS[service]))
        health = env.get(f"{prefix}_WORKER_HEALTH_PORT", str(DEFAULT_HEALTH_PORTS[service]))
        metrics_port = env.get(f"{prefix}_METRICS_PORT", str(DEFAULT_METRICS_PORTS[service]))
        return {
            "database_url": database_url(service, env),
            "kafka_bootstrap": kafka_bootstrap(env),
            "wake_port": int(wake) if wake and wake != "0" else None,
            "worker_health_port": int(health) if health and health != "0" else None,
            "metrics_port": int(metrics_port) if metrics_port and metrics_port != "0" else None,
            "worker_stall_seconds": float(env.get("WORKER_STALL_SECONDS", 300)),
            "park_timeout_hours": float(env.get("PARK_TIMEOUT_HOURS", 24)),
            "kafka_partitions": int(env.get("KAFKA_PARTITIONS", 6)),
            "kafka_replication_factor": int(env.get("KAFKA_REPLICATION_FACTOR", 1)),
            "kafka_min_insync_replicas": int(env.get("KAFKA_MIN_INSYNC_REPLICAS", 1)),
            "kafka_security_protocol": env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
            "kafka_sasl_username": env.get("KAFKA_SASL_USERNAME"),
            "kafka_sasl_password": env.get("KAFKA_SASL_PASSWORD"),
            "kafka_ssl_cafile": env.get("KAFKA_SSL_CAFILE"),
            "environment": env.get("ATTUNE_ENV", "development"),
            "secret_key": env.get(f"{prefix}_SECRET_KEY") or env.get("ATTUNE_SECRET_KEY", DEV_SECRET_KEY),
            "oidc_issuer": env.get("OIDC_ISSUER", DEFAULT_OIDC_ISSUER).rstrip("/"),
            "oidc_client_id": env.get("OIDC_CLIENT_ID", ""),
            "oidc_client_secret": env.get("OIDC_CLIENT_SECRET", DEV_OIDC_CLIENT_SECRET),
            "oidc_audience": env.get("OIDC_AUDIENCE", "attune"),
            "oidc_admin_client_id": env.get("OIDC_ADMIN_CLIENT_ID", "attune-admin"),
            "oidc_admin_client_secret": env.get("OIDC_ADMIN_CLIENT_SECRET", DEV_OIDC_CLIENT_SECRET),
            "oidc_roles_claim": env.get("OIDC_ROLES_CLAIM", "roles"),
            "oidc_role_map": role_map(env.get("OIDC_ROLE_MAP", "")),
            "oidc_clinician_claim": env.get("OIDC_CLINICIAN_CLAIM", "clinician_id"),
            "session_idle_minutes": float(env.get("STAFF_SESSION_IDLE_MINUTES", 30)),
            "session_max_hours": float(env.get("STAFF_SESSION_MAX_HOURS", 12)),
            "proxy_hops": int(env.get("ATTUNE_PROXY_HOPS", 0)),
            "public_link_rate_limit": env.get("PUBLIC_LINK_RATE_LIMIT", "60 per minute"),
            "audit_retention_days": float(env.get("AUDIT_RETENTION_DAYS", 2555)),
            "link_secret": env.get("ATTUNE_LINK_SECRET", DEV_LINK_SECRET),
            "link_key": env.get("ATTUNE_LINK_KEY", DEV_LINK_KEY),
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
