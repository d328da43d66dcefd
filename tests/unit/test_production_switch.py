"""``ATTUNE_ENV=production`` refuses to start, naming the setting, when a secret is unset or a development
default, when a public URL or the identity provider is not https, or when nobody is on call for alerts."""

from __future__ import annotations

import pytest

from services.feedback.settings import FeedbackSettings
from services.notifications.settings import NotificationsSettings
from services.scheduling.settings import SchedulingSettings
from shared.config import DEV_LINK_SECRET, DEV_OIDC_CLIENT_SECRET, DEV_SECRET_KEY

SAFE = {
    "ATTUNE_ENV": "production",
    "ATTUNE_SECRET_KEY": "s3cret-key-for-flask-sessions-0001",
    "ATTUNE_LINK_SECRET": "s3cret-key-for-signed-links-00001",
    "ATTUNE_LINK_KEY": "cHJvZHVjdGlvbi1saW5rLWtleS0wMDAwMDAwMDAwMDA=",
    "FEEDBACK_RECORD_KEY": "cHJvZHVjdGlvbi1yZWNvcmQta2V5LTAwMDAwMDAwMDA=",
    "OIDC_CLIENT_SECRET": "s3cret-from-the-identity-provider",
    "OIDC_ISSUER": "https://id.practice.example/realms/attune",
    "SCHEDULING_PUBLIC_URL": "https://desk.practice.example",
    "FEEDBACK_PUBLIC_URL": "https://care.practice.example",
    "NOTIFICATIONS_PUBLIC_URL": "https://mail.practice.example",
    "ALERT_ONCALL_ADDRESS": "oncall@practice.example",
    "SMS_AUTH_TOKEN": "the-practice-s-own-sms-auth-token",
    "SMS_API_URL": "",  # the provider's own API
    "OIDC_ADMIN_CLIENT_SECRET": "another-secret-from-the-provider",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_USERNAME": "feedback",
    "KAFKA_SASL_PASSWORD": "a-long-bus-password-0001",
}
ALL = (SchedulingSettings, FeedbackSettings, NotificationsSettings)


@pytest.mark.parametrize("settings", ALL)
def test_safe_production_settings_start(settings):
    assert settings.from_env(SAFE).environment == "production"


@pytest.mark.parametrize("settings", ALL)
@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("ATTUNE_SECRET_KEY", None, "ATTUNE_SECRET_KEY"),
        ("ATTUNE_SECRET_KEY", DEV_SECRET_KEY, "ATTUNE_SECRET_KEY"),
        ("ATTUNE_SECRET_KEY", "short", "ATTUNE_SECRET_KEY"),
        ("ATTUNE_LINK_SECRET", None, "ATTUNE_LINK_SECRET"),
        ("ATTUNE_LINK_SECRET", DEV_LINK_SECRET, "ATTUNE_LINK_SECRET"),
        ("OIDC_CLIENT_SECRET", None, "OIDC_CLIENT_SECRET"),
        ("OIDC_CLIENT_SECRET", DEV_OIDC_CLIENT_SECRET, "OIDC_CLIENT_SECRET"),
        ("OIDC_ISSUER", None, "OIDC_ISSUER"),
        ("OIDC_ISSUER", "http://id.practice.example/realms/attune", "OIDC_ISSUER"),
        ("FEEDBACK_PUBLIC_URL", None, "FEEDBACK_PUBLIC_URL"),
        ("KAFKA_SECURITY_PROTOCOL", None, "KAFKA_SECURITY_PROTOCOL"),
        ("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "KAFKA_SECURITY_PROTOCOL"),
        ("KAFKA_SASL_PASSWORD", None, "KAFKA_SASL"),
        ("SCHEDULING_PUBLIC_URL", "http://desk.practice.example", "SCHEDULING_PUBLIC_URL"),
    ],
)
def test_each_unsafe_setting_is_refused_by_name(settings, variable, value, named):
    env = {k: v for k, v in SAFE.items() if k != variable}
    if value is not None:
        env[variable] = value
    with pytest.raises(ValueError, match=named):
        settings.from_env(env)


def test_notifications_refuses_the_dev_sms_provider_unless_texts_are_off():
    for variable in ("SMS_AUTH_TOKEN", "SMS_API_URL"):
        env = {k: v for k, v in SAFE.items() if k != variable}
        with pytest.raises(ValueError, match="SMS_AUTH_TOKEN"):
            NotificationsSettings.from_env(env)
    env = {k: v for k, v in SAFE.items() if not k.startswith("SMS_")}
    assert NotificationsSettings.from_env({**env, "SMS_ENABLED": "false"}).sms_enabled is False


def test_notifications_needs_someone_on_call():
    env = {k: v for k, v in SAFE.items() if k != "ALERT_ONCALL_ADDRESS"}
    with pytest.raises(ValueError, match="ALERT_ONCALL_ADDRESS"):
        NotificationsSettings.from_env(env)
    assert SchedulingSettings.from_env(env)  # only notifications sends alerts


def test_development_starts_with_its_defaults():
    assert SchedulingSettings.from_env({}).environment == "development"


def test_the_services_that_handle_links_need_their_own_link_key():
    env = {k: v for k, v in SAFE.items() if k != "ATTUNE_LINK_KEY"}
    for settings in (FeedbackSettings, NotificationsSettings, SchedulingSettings):  # scheduling seals video links
        with pytest.raises(ValueError, match="ATTUNE_LINK_KEY"):
            settings.from_env(env)
