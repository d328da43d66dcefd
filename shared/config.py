"""Settings from environment variables, with development defaults that work on a fresh machine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from shared.db import default_sqlite_url
from shared.messaging.kafka_clients import bootstrap_servers

DEFAULT_PORTS = {"scheduling": 8001, "feedback": 8002, "notifications": 8003}
DEFAULT_WAKE_PORTS = {"scheduling": 7101, "feedback": 7102, "notifications": 7103}


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


@dataclass
class ServiceConfig:
    service: str
    database_url: str
    kafka_bootstrap: str
    wake_port: int | None
    secret_key: str
    auth_secret: str
    public_urls: dict[str, str]
    extra: dict[str, str] = field(default_factory=dict)
    testing: bool = False

    @classmethod
    def from_env(cls, service: str, **overrides) -> ServiceConfig:
        prefix = service.upper()
        wake = _env(f"{prefix}_OUTBOX_WAKE_PORT", str(DEFAULT_WAKE_PORTS[service]))
        values = dict(
            service=service,
            database_url=_env(f"{prefix}_DATABASE_URL") or _env("DATABASE_URL") or default_sqlite_url(service),
            kafka_bootstrap=bootstrap_servers(),
            wake_port=int(wake) if wake and wake != "0" else None,
            secret_key=_env(f"{prefix}_SECRET_KEY") or _env("ATTUNE_SECRET_KEY", "dev-only-secret-change-me"),
            auth_secret=_env("ATTUNE_AUTH_SECRET", "dev-only-auth-secret-change-me"),
            public_urls={
                name: _env(f"{name.upper()}_PUBLIC_URL", f"http://127.0.0.1:{port}")
                for name, port in DEFAULT_PORTS.items()
            },
        )
        values.update(overrides)
        return cls(**values)

    def public_url(self, service: str) -> str:
        return self.public_urls[service].rstrip("/")
