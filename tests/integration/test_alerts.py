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


def test_an_urgent_alert_nobody_acknowledges_is_escalated_once(db_url):
    from datetime import timedelta

    from services.feedback.models import Alert
    from shared.statuses import AlertStatus

    runtime = service_runtime("feedback", db_url)
    with transaction(runtime.sessions) as s:
        s.add(ClientRecord(id="c1", preferred_name="Jo", clinician_id="k1"))
        s.add(ClientRecord(id="c2", preferred_name="Sam", clinician_id="k1"))
    with transaction(runtime.sessions) as s:
        for client in ("c1", "c2"):
            alerts.apply_signal(
                s, client_id=client, clinician_id="k1", now=NOW, signal=Signal("risk_item", "urgent", "phq9", "x")
            )
    with transaction(runtime.sessions) as s:
        alerts.acknowledge(s, s.scalar(select(Alert).where(Alert.client_id == "c2")), "k1", NOW)
    four_hours = timedelta(hours=4)
    with transaction(runtime.sessions) as s:
        assert alerts.escalate_unacknowledged(s, NOW + timedelta(hours=3), four_hours) == 0
    with transaction(runtime.sessions) as s:
        assert alerts.escalate_unacknowledged(s, NOW + timedelta(hours=5), four_hours) == 1  # c1 only
    with transaction(runtime.sessions) as s:
        assert alerts.escalate_unacknowledged(s, NOW + timedelta(hours=9), four_hours) == 0  # once
        escalated = s.scalar(select(Alert).where(Alert.client_id == "c1"))
        assert escalated.escalated_at == NOW + timedelta(hours=5) and escalated.status == AlertStatus.OPEN
        payloads = s.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.event_type == "attune.feedback.alert.escalated")
        ).all()
    assert len(payloads) == 1 and '"reason":"unacknowledged"' in payloads[0]
    runtime.engine.dispose()


def test_a_therapist_not_reached_by_email_is_shown_on_the_alert(tmp_path):
    from services.feedback.models import Alert
    from shared.events import catalog as events
    from tests.support.apps import make_app

    fb = make_app("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    with transaction(fb.runtime.sessions) as s:
        s.add(ClientRecord(id="c1", preferred_name="Jo", clinician_id="k1"))
    with transaction(fb.runtime.sessions) as s:
        alert, _ = alerts.apply_signal(
            s, client_id="c1", clinician_id="k1", now=NOW, signal=Signal("risk_item", "urgent", "phq9", "x")
        )
    outcome = {
        "delivery_id": "d1",
        "template": "alert_notice",
        "recipient_kind": "clinician",
        "recipient_id": "k1",
        "source_event_id": "e1",
        "at": NOW,
        "error_class": "recipient refused (550)",
        "alert_id": alert.id,
    }
    fb.deliver(events.NOTIFICATION_FAILED, outcome)
    page = fb.sign_in("clinician", "k1").get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "Therapist not reached by email" in page
    api = fb.client.get("/api/alerts", headers=fb.headers("clinician", "k1")).json
    with transaction(fb.runtime.sessions) as s:
        assert s.get(Alert, alert.id).therapist_unreached_at == NOW
    assert api[0]["therapist_unreached_at"] is not None
    fb.close()
