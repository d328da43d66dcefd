"""Alert deduplication, escalation, acknowledgement and resolution on a real database."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from services.feedback import alerts
from services.feedback.models import Alert, ClientRecord
from services.feedback.rules import Signal
from shared.db import transaction
from shared.messaging.tables import OutboxMessage
from tests.support.apps import service_runtime

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def test_one_open_alert_per_client_and_rule(db_url):
    runtime = service_runtime("feedback", db_url)
    with transaction(runtime.sessions) as s:
        s.add(ClientRecord(id="c1", preferred_name="Jo", clinician_id="k1"))

    def signal(rule="off_track", severity="moderate", text="x"):
        with transaction(runtime.sessions) as s:
            return alerts.apply_signal(
                s, client_id="c1", clinician_id="k1", now=NOW, signal=Signal(rule, severity, "phq9", text)
            )[1]

    assert signal() == "raised"
    assert signal(text="refreshed") == "unchanged"  # same rule, same severity: one alert, new explanation
    assert signal(severity="high") == "escalated"
    assert signal(rule="plateau", severity="low") == "raised"  # another rule: its own alert

    with transaction(runtime.sessions) as s:
        alert = s.scalar(select(Alert).where(Alert.rule == "off_track"))
        alerts.acknowledge(s, alert, "k1", NOW + timedelta(hours=1))
    assert signal(severity="moderate") == "unchanged"  # acknowledged stays acknowledged for a milder signal
    with transaction(runtime.sessions) as s:
        alert = s.scalar(select(Alert).where(Alert.rule == "off_track"))
        assert alert.status == "acknowledged" and alert.severity == "high"
        alerts.resolve(s, alert, "k1", "Discussed; plan adjusted.", NOW + timedelta(days=1))
    assert signal() == "raised"  # after resolution a new episode of the problem is a new alert

    with runtime.sessions() as s:
        events = s.scalars(select(OutboxMessage.event_type).order_by(OutboxMessage.id)).all()
    assert events == [
        "attune.feedback.alert.raised",
        "attune.feedback.alert.escalated",
        "attune.feedback.alert.raised",
        "attune.feedback.alert.resolved",
        "attune.feedback.alert.raised",
    ]
    runtime.engine.dispose()
