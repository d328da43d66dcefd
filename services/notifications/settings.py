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
    quiet_start: str = "21:00"  # client messages wait for the end of quiet hours in the client's timezone
    quiet_end: str = "08:00"
    grace_minutes: float = 3.0  # quick successive edits of an appointment send one message
    reminder_offsets_hours: tuple = (24.0,)  # appointment reminders before the start
    questionnaire_reminder_hours: float = 24.0
    late_cancel_hours: float = 24.0  # the cancel link only works outside this window
    scheduling_url: str = "http://127.0.0.1:8001"
    notifications_url: str = "http://127.0.0.1:8003"
    practice_location: str = ""

    @classmethod
    def from_config(cls, config: ServiceConfig) -> NotifySettings:
        env = os.environ
        s = cls(
            dashboard_url=config.public_url("feedback"),
            scheduling_url=config.public_url("scheduling"),
            notifications_url=config.public_url("notifications"),
        )
        s.smtp_host = env.get("SMTP_HOST", s.smtp_host)
        s.smtp_port = int(env.get("SMTP_PORT", s.smtp_port))
        s.smtp_security = env.get("SMTP_SECURITY", s.smtp_security)
        s.smtp_user = env.get("SMTP_USER") or None
        s.smtp_password = env.get("SMTP_PASSWORD") or None
        s.from_address = env.get("NOTIFY_FROM_ADDRESS", s.from_address)
        s.from_name = env.get("NOTIFY_FROM_NAME", s.from_name)
        s.practice_name = env.get("PRACTICE_NAME", s.practice_name)
        s.oncall_address = env.get("ALERT_ONCALL_ADDRESS") or None
        s.quiet_start = env.get("NOTIFY_QUIET_START", s.quiet_start)
        s.quiet_end = env.get("NOTIFY_QUIET_END", s.quiet_end)
        s.grace_minutes = float(env.get("NOTIFY_GRACE_MINUTES", s.grace_minutes))
        if env.get("NOTIFY_REMINDER_OFFSETS_HOURS"):
            s.reminder_offsets_hours = tuple(float(h) for h in env["NOTIFY_REMINDER_OFFSETS_HOURS"].split(","))
        s.questionnaire_reminder_hours = float(
            env.get("NOTIFY_QUESTIONNAIRE_REMINDER_HOURS", s.questionnaire_reminder_hours)
        )
        s.late_cancel_hours = float(env.get("LATE_CANCEL_HOURS", s.late_cancel_hours))
        s.practice_location = env.get("PRACTICE_LOCATION", s.practice_location)
        for key, value in config.extra.get("notifications", {}).items():
            setattr(s, key, value)
        return s
