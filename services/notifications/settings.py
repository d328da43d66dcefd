"""Notifications' settings: SMTP, sender identity, practice branding."""

from __future__ import annotations

import os
from dataclasses import dataclass

from shared.config import ServiceConfig


@dataclass
class NotifySettings:
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 10.0
    from_address: str = "no-reply@attune.local"
    from_name: str = "Your therapy practice"  # a practice's name alone can reveal a condition: keep it neutral
    practice_name: str = "Your therapy practice"
    oncall_address: str | None = None
    dashboard_url: str = "http://127.0.0.1:8002"
    max_attempts: int = 8
    rate_per_second: float = 20.0

    @classmethod
    def from_config(cls, config: ServiceConfig) -> NotifySettings:
        env = os.environ
        s = cls(dashboard_url=config.public_url("feedback"))
        s.smtp_host = env.get("SMTP_HOST", s.smtp_host)
        s.smtp_port = int(env.get("SMTP_PORT", s.smtp_port))
        s.smtp_security = env.get("SMTP_SECURITY", s.smtp_security)
        s.smtp_user = env.get("SMTP_USER") or None
        s.smtp_password = env.get("SMTP_PASSWORD") or None
        s.from_address = env.get("NOTIFY_FROM_ADDRESS", s.from_address)
        s.from_name = env.get("NOTIFY_FROM_NAME", s.from_name)
        s.practice_name = env.get("PRACTICE_NAME", s.practice_name)
        s.oncall_address = env.get("ALERT_ONCALL_ADDRESS") or None
        for key, value in config.extra.get("notifications", {}).items():
            setattr(s, key, value)
        return s
