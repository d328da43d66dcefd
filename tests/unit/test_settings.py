"""Settings are read once, in the settings modules, and nowhere else in the services or the shared package."""

from __future__ import annotations

import re
from pathlib import Path

from services.feedback.settings import FeedbackSettings
from services.notifications.settings import NotificationsSettings
from services.scheduling.settings import SchedulingSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULES = {
    "shared/config.py",
    *(f"services/{s}/settings.py" for s in ("scheduling", "feedback", "notifications")),
}


def test_no_environment_reads_outside_the_settings_modules():
    readers = [
        str(path.relative_to(ROOT))
        for folder in ("services", "shared")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())
    ]
    assert sorted(set(readers) - SETTINGS_MODULES) == []


def test_each_service_reads_its_own_variables_and_the_common_ones(tmp_path):
    env = {
        "ATTUNE_VAR_DIR": str(tmp_path),
        "FEEDBACK_DATABASE_URL": "sqlite:///f.db",
        "KAFKA_BOOTSTRAP_SERVERS": "broker:9092",
        "FEEDBACK_PUBLIC_URL": "https://checkin.example/",
        "FEEDBACK_SESSION_MEASURES": "phq9, gad7",
        "FEEDBACK_INTAKE_MEASURES": "",
        "SMTP_PORT": "2525",
        "NOTIFY_REMINDER_OFFSETS_HOURS": "48,2",
        "ALERT_ONCALL_ADDRESS": "oncall@practice.example",
        "LATE_CANCEL_HOURS": "12",
        "NOTIFICATIONS_OUTBOX_WAKE_PORT": "0",
    }
    feedback = FeedbackSettings.from_env(env)
    assert feedback.database_url == "sqlite:///f.db" and feedback.kafka_bootstrap == "broker:9092"
    assert feedback.questionnaire_base_url == "https://checkin.example"
    assert feedback.session_measures == ["phq9", "gad7"] and feedback.intake_measures == []
    notifications = NotificationsSettings.from_env(env, rate_per_second=5.0)
    assert notifications.smtp_port == 2525 and notifications.reminder_offsets_hours == (48.0, 2.0)
    assert notifications.oncall_address == "oncall@practice.example" and notifications.rate_per_second == 5.0
    assert notifications.dashboard_url == "https://checkin.example" and notifications.wake_port is None
    assert notifications.database_url == f"sqlite:///{(tmp_path / 'notifications.db').resolve()}"
    scheduling = SchedulingSettings.from_env(env)
    assert scheduling.late_cancel_hours == 12.0 and scheduling.wake_port == 7101
    assert scheduling.practice_timezone == "Europe/London"
