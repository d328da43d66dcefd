"""Notifications' settings: the common ones plus SMTP, the sender's identity and message timing.

| variable | meaning | default |
| --- | --- | --- |
| ``SMTP_HOST`` / ``SMTP_PORT`` | the mail server | ``127.0.0.1:8025`` (the dev mail sink) |
| ``SMTP_SECURITY`` | ``none``, ``starttls`` or ``ssl`` | ``none`` |
| ``SMTP_USER`` / ``SMTP_PASSWORD`` | SMTP credentials | none |
| ``NOTIFY_FROM_ADDRESS`` / ``NOTIFY_FROM_NAME`` | the sender | ``no-reply@attune.local`` / a neutral name |
| ``PRACTICE_NAME`` / ``PRACTICE_LOCATION`` | shown in client messages | neutral / empty |
| ``ALERT_ONCALL_ADDRESS`` | also receives every urgent alert; required when ``ATTUNE_ENV=production`` | none |
| ``ALERT_SUPERVISOR_ADDRESS`` | urgent alerts of clinicians without a supervisor go here too | none |
| ``NOTIFY_QUIET_START`` / ``NOTIFY_QUIET_END`` | client messages wait these out (client's timezone) | 21:00 / 08:00 |
| ``NOTIFY_GRACE_MINUTES`` | quick successive appointment edits send one message after this long | 3 |
| ``NOTIFY_REMINDER_OFFSETS_HOURS`` | appointment reminders, hours before the start (comma-separated) | 48 |
| ``NOTIFY_QUESTIONNAIRE_REMINDER_HOURS`` | a questionnaire reminder this long after the invitation | 24 |
| ``NOTIFY_ALERT_RETRY_HOURS`` | an alert notice is retried this long before it is marked failed | 48 |
| ``NOTIFY_CLIENT_RETRY_HOURS`` | the same for client messages | 12 |
| ``NOTIFY_RETRY_BACKOFF_CAP_SECONDS`` | the longest wait between two attempts | 300 |
| ``NOTIFY_RATE_PER_SECOND`` | the most messages sent per second | 20 |
| ``LATE_CANCEL_HOURS`` | a reminder's cancel link only works before this window | 24 |
| ``SMS_ENABLED`` | text messages for clients who prefer them (``false``: they are "not reached") | ``true`` |
| ``SMS_ACCOUNT_SID`` / ``SMS_AUTH_TOKEN`` | the provider account (Twilio's Account SID and Auth Token) | dev values |
| ``SMS_FROM`` | the sending number (E.164) or a Messaging Service SID (``MG...``) | ``+447700900000`` |
| ``SMS_API_URL`` | the provider's API base URL (empty: Twilio's own; or a compatible one) | the dev SMS sink (8035) |
| ``NOTIFY_SMS_VIDEO_LINK`` | put the video link in appointment texts (``false``: texts point to the email) | ``true`` |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from shared.config import CommonSettings

DEV_SMS_AUTH_TOKEN = "dev-sms-auth-token-not-for-production"  # noqa: S105 - refused in production
DEV_SMS_API_URL = "http://127.0.0.1:8035"


@dataclass(kw_only=True)
class NotificationsSettings(CommonSettings):
    SERVICE: ClassVar[str] = "notifications"
    USES_LINK_KEY: ClassVar[bool] = True

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 10.0
    from_address: str = "no-reply@attune.local"
    from_name: str = "Your therapy practice"  # a practice's name alone can reveal a condition: keep it neutral
    practice_name: str = "Your therapy practice"
    practice_location: str = ""
    oncall_address: str | None = None
    supervisor_address: str | None = None  # the practice's default supervisor for clinicians without one
    alert_retry_hours: float = 48.0  # an alert notice is retried this long before it is marked failed
    client_retry_hours: float = 12.0  # client messages: a stale invitation or reminder helps nobody
    retry_backoff_cap_seconds: float = 300.0
    rate_per_second: float = 20.0
    smtp_concurrency: int = 4  # deliveries in flight at once, each over its own reused SMTP connection
    quiet_start: str = "21:00"  # client messages wait for the end of quiet hours in the client's timezone
    quiet_end: str = "08:00"
    grace_minutes: float = 3.0  # quick successive edits of an appointment send one message
    # Appointment reminders before the start: outside the late-cancel window, so "cancel" in them works.
    reminder_offsets_hours: tuple[float, ...] = (48.0,)
    questionnaire_reminder_hours: float = 24.0
    late_cancel_hours: float = 24.0  # the cancel link only works outside this window
    sms_enabled: bool = True
    sms_account_sid: str = "AC" + "0" * 32
    sms_auth_token: str = DEV_SMS_AUTH_TOKEN
    sms_from: str = "+447700900000"
    sms_api_url: str | None = DEV_SMS_API_URL  # None: the provider's own API
    sms_video_link: bool = True

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.oncall_address:
            problems.append("ALERT_ONCALL_ADDRESS must be set: urgent risk alerts need someone on call")
        if self.sms_enabled and (self.sms_auth_token == DEV_SMS_AUTH_TOKEN or self.sms_api_url == DEV_SMS_API_URL):
            problems.append("SMS_AUTH_TOKEN and SMS_API_URL are development values (or set SMS_ENABLED=false)")
        return problems

    @property
    def dashboard_url(self) -> str:
        return self.public_url("feedback")

    @property
    def scheduling_url(self) -> str:
        return self.public_url("scheduling")

    @property
    def notifications_url(self) -> str:
        return self.public_url("notifications")

    @classmethod
    def service_from_env(cls, env: Mapping[str, str]) -> dict:
        text = {
            "SMTP_HOST": "smtp_host",
            "SMTP_SECURITY": "smtp_security",
            "NOTIFY_FROM_ADDRESS": "from_address",
            "NOTIFY_FROM_NAME": "from_name",
            "PRACTICE_NAME": "practice_name",
            "PRACTICE_LOCATION": "practice_location",
            "NOTIFY_QUIET_START": "quiet_start",
            "NOTIFY_QUIET_END": "quiet_end",
            "SMS_ACCOUNT_SID": "sms_account_sid",
            "SMS_AUTH_TOKEN": "sms_auth_token",
            "SMS_FROM": "sms_from",
        }
        numbers = {
            "SMTP_PORT": ("smtp_port", int),
            "NOTIFY_GRACE_MINUTES": ("grace_minutes", float),
            "NOTIFY_QUESTIONNAIRE_REMINDER_HOURS": ("questionnaire_reminder_hours", float),
            "NOTIFY_ALERT_RETRY_HOURS": ("alert_retry_hours", float),
            "NOTIFY_CLIENT_RETRY_HOURS": ("client_retry_hours", float),
            "NOTIFY_RETRY_BACKOFF_CAP_SECONDS": ("retry_backoff_cap_seconds", float),
            "NOTIFY_RATE_PER_SECOND": ("rate_per_second", float),
            "NOTIFY_SMTP_CONCURRENCY": ("smtp_concurrency", int),
            "LATE_CANCEL_HOURS": ("late_cancel_hours", float),
        }
        values: dict = {attr: env[var] for var, attr in text.items() if env.get(var)}
        values.update({attr: kind(env[var]) for var, (attr, kind) in numbers.items() if env.get(var)})
        for var, attr in (("SMTP_USER", "smtp_user"), ("SMTP_PASSWORD", "smtp_password")):
            values[attr] = env.get(var) or None
        values["oncall_address"] = env.get("ALERT_ONCALL_ADDRESS") or None
        values["supervisor_address"] = env.get("ALERT_SUPERVISOR_ADDRESS") or None
        for var, attr in (("SMS_ENABLED", "sms_enabled"), ("NOTIFY_SMS_VIDEO_LINK", "sms_video_link")):
            if env.get(var):
                values[attr] = env[var].lower() in ("1", "true", "yes")
        if "SMS_API_URL" in env:
            values["sms_api_url"] = env["SMS_API_URL"] or None
        if env.get("NOTIFY_REMINDER_OFFSETS_HOURS"):
            values["reminder_offsets_hours"] = tuple(float(h) for h in env["NOTIFY_REMINDER_OFFSETS_HOURS"].split(","))
        return values
