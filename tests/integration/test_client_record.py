"""What the front desk sees of a client beyond the directory: questionnaire status and the message log
(projected from feedback's and notifications' events), and the consent trail with the unsubscribe that only
the desk can lift, with the client's confirmation. Notifications' side: every message that is not sent says
so in an event, and a lifted unsubscribe schedules the reminders still to come."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.notifications.models import Delivery
from services.scheduling.models import Client, ClientMessage, ConsentChange
from services.scheduling.queries import questionnaire_state
from shared.events import catalog as events
from shared.messaging.tables import OutboxMessage
from shared.statuses import DeliveryStatus
from tests.support import events as ev
from tests.support.apps import make_app

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def desk(tmp_path):
    made = make_app("scheduling", f"sqlite:///{tmp_path / 's.db'}")
    yield made
    made.close()


def _register(desk, **extra) -> str:
    body = {"legal_name": "Jo Bloggs", "email": "jo@example.org", "consent_email": True, **extra}
    made = desk.client.post("/api/clients", json=body, headers=desk.headers())
    assert made.status_code == 201, made.json
    return made.json["id"]


def _outcome(spec, delivery_id: str, source_event_id: str, at: datetime, client_id: str, **extra):
    return spec, {
        "delivery_id": delivery_id,
        "template": "questionnaire_invitation",
        "recipient_kind": "client",
        "recipient_id": client_id,
        "source_event_id": source_event_id,
        "at": at,
        "error_class": None,
        **extra,
    }


def _states(desk, client_id: str) -> dict:
    from services.scheduling.queries import client_record

    with desk.runtime.sessions() as s:
        page = client_record(s, s.get(Client, client_id), NOW)
    return {q.id: words for q, (words, _when, _kind) in page["questionnaires"]}


def _outbox(desk, event_type: str) -> list[OutboxMessage]:
    with desk.runtime.sessions() as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == event_type)).all()


def test_each_questionnaire_says_what_became_of_it_and_why_none_was_sent(desk):
    jo = _register(desk)
    issued = {}
    for q in ("q1", "q2", "q3", "q4"):
        data = ev.issued(NOW + timedelta(days=7), assignment_id=q, client_id=jo)
        issued[q] = desk.deliver(events.QUESTIONNAIRE_ISSUED, data, jo).id
    assert set(_states(desk, jo).values()) == {"Invitation queued"}  # nothing heard from notifications yet

    cancelled = _outcome(events.NOTIFICATION_CANCELLED, "d1", issued["q1"], NOW, jo, error_class="no consent to email")
    desk.deliver(*cancelled, jo)
    desk.deliver(*_outcome(events.NOTIFICATION_SENT, "d2", issued["q2"], NOW, jo), jo)
    desk.deliver(*_outcome(events.NOTIFICATION_SENT, "d3", issued["q3"], NOW, jo), jo)
    base = {"client_id": jo, "clinician_id": "k1"}
    desk.deliver(events.QUESTIONNAIRE_COMPLETED, {**base, "assignment_id": "q3", "completed_at": NOW}, jo)
    desk.deliver(events.QUESTIONNAIRE_EXPIRED, {**base, "assignment_id": "q4", "expired_at": NOW}, jo)
    desk.deliver(events.QUESTIONNAIRE_EXPIRED, {**base, "assignment_id": "q3", "expired_at": NOW}, jo)  # too late
    reason = "the client has not consented to questionnaires by email"
    skipped = {**base, "assignment_id": "q5", "trigger": "session", "reason": reason, "skipped_at": NOW}
    desk.deliver(events.QUESTIONNAIRE_SKIPPED, skipped, jo)
    assert _states(desk, jo) == {
        "q1": "Not sent: no consent to email",
        "q2": "Sent, not answered yet",
        "q3": "Completed",
        "q4": "Expired unanswered",
        "q5": f"None sent: {reason}",
    }
    desk.deliver(events.QUESTIONNAIRE_OPENED, {**base, "assignment_id": "q2", "opened_at": NOW}, jo)
    assert _states(desk, jo)["q2"] == "Link opened, not answered yet"
    # Another practice's client (not in this directory) leaves no trace and raises nothing.
    desk.deliver(events.QUESTIONNAIRE_ISSUED, ev.issued(NOW, assignment_id="q9", client_id="elsewhere"), "elsewhere")
    assert "q9" not in _states(desk, jo)


def test_the_message_log_keeps_the_latest_outcome_and_only_the_clients_own_messages(desk):
    jo = _register(desk)
    failed = _outcome(events.NOTIFICATION_FAILED, "d1", "e1", NOW, jo, error_class="421 try later")
    sent = _outcome(events.NOTIFICATION_SENT, "d1", "e1", NOW + timedelta(minutes=5), jo)
    desk.deliver(*failed, jo)
    desk.deliver(*sent, jo)
    desk.deliver(*failed, jo)  # a replayed copy of the older outcome
    alert = _outcome(events.NOTIFICATION_SENT, "d2", "e2", NOW, "k1", recipient_kind="clinician")
    desk.deliver(*alert, jo)
    with desk.runtime.sessions() as s:
        log = s.scalars(select(ClientMessage)).all()
    assert [(m.id, m.outcome, m.reason) for m in log] == [("d1", "sent", None)]

    desk.sign_in()
    page = desk.client.get(f"/desk/clients/{jo}").get_data(as_text=True)
    row = re.search(r'<tr class="m-sent">(.*?)</tr>', page, re.S).group(1)
    assert "Questionnaire invitation" in row and "delivered to the mail server" in row


def test_the_desk_lifts_an_unsubscribe_only_with_the_clients_confirmation_and_a_reason(desk):
    jo = _register(desk)
    opted_out = {"client_id": jo, "opted_out_at": datetime.now(UTC)}
    desk.deliver(events.CLIENT_OPTED_OUT, opted_out, jo)
    desk.deliver(events.CLIENT_OPTED_OUT, opted_out, jo)  # twice: one entry
    with desk.runtime.sessions() as s:
        assert s.get(Client, jo).reminders_opted_out is True

    path = f"/api/clients/{jo}/reminders/resume"
    missing = desk.client.post(path, json={"reason": "x"}, headers=desk.headers())
    assert missing.status_code == 422
    assert set(missing.json["errors"]) == {"confirmed", "reason"}
    as_clinician = desk.headers("clinician", "k1")
    assert (
        desk.client.post(path, json={"confirmed": "phone", "reason": "asked"}, headers=as_clinician).status_code == 403
    )
    assert _outbox(desk, events.CLIENT_REMINDERS_RESUMED.type) == []

    done = desk.client.post(
        path, json={"confirmed": "phone", "reason": "Asked for reminders again"}, headers=desk.headers()
    )
    assert done.status_code == 200 and done.json["how"] == "client confirmed by phone"
    assert (
        desk.client.post(path, json={"confirmed": "phone", "reason": "again"}, headers=desk.headers()).status_code
        == 409
    )
    [resumed] = [m for m in _outbox(desk, events.CLIENT_REMINDERS_RESUMED.type) if not m.topic.endswith("directory")]
    assert set(json.loads(resumed.payload)["data"]) == {"client_id", "resumed_at"}  # the reason stays in scheduling

    trail = desk.client.get(f"/api/clients/{jo}/consent", headers=desk.headers()).json
    assert [(t["channel"], t["given"], t["how"]) for t in trail] == [
        ("email", True, "at registration"),
        ("reminders", False, "unsubscribe link"),
        ("reminders", True, "client confirmed by phone"),
    ]
    assert trail[2]["reason"] == "Asked for reminders again" and trail[2]["by"] not in ("client", "unknown")
    with desk.runtime.sessions() as s:
        assert s.get(Client, jo).reminders_opted_out is False


def test_consent_changes_made_at_the_desk_join_the_trail(desk):
    jo = _register(desk, consent_email=False)
    for consent in (True, False):
        patched = desk.client.patch(f"/api/clients/{jo}", json={"consent_email": consent}, headers=desk.headers())
        assert patched.status_code == 200
    with desk.runtime.sessions() as s:
        trail = s.scalars(select(ConsentChange).order_by(ConsentChange.at, ConsentChange.id)).all()
    assert [(t.given, t.how) for t in trail] == [
        (False, "at registration"),
        (True, "changed through the API"),
        (False, "changed through the API"),
    ]
    # Given again after it was withdrawn: only with how the client confirmed it and why.
    again = desk.client.patch(f"/api/clients/{jo}", json={"consent_email": True}, headers=desk.headers())
    assert again.status_code == 422 and set(again.json["errors"]) == {"consent_confirmed", "consent_reason"}
    with desk.runtime.sessions() as s:
        assert s.get(Client, jo).consent_email is False
    body = {"consent_email": True, "consent_confirmed": "writing", "consent_reason": "Signed the consent form"}
    assert desk.client.patch(f"/api/clients/{jo}", json=body, headers=desk.headers()).status_code == 200
    with desk.runtime.sessions() as s:
        last = s.scalars(select(ConsentChange).order_by(ConsentChange.at.desc(), ConsentChange.id)).first()
        assert (last.given, last.how, last.reason) == (True, "client confirmed in writing", "Signed the consent form")
        assert s.get(Client, jo).consent_email is True


def test_questionnaire_state_words():
    from types import SimpleNamespace as NS

    q = NS(status="open", closed_at=None, opened_at=None)
    failed = NS(outcome="failed", reason="550 mailbox unavailable", at=NOW)
    assert questionnaire_state(q, failed) == ("Could not be delivered: 550 mailbox unavailable", NOW, "problem")
    assert questionnaire_state(q, NS(outcome="cancelled", reason=None, at=NOW))[0] == "Not sent: withdrawn"
    assert questionnaire_state(NS(status="completed", closed_at=NOW), failed) == ("Completed", NOW, "done")


# -- notifications' side ---------------------------------------------------------------------------------------


@pytest.fixture
def notes(tmp_path, mail):
    made = make_app("notifications", f"sqlite:///{tmp_path / 'n.db'}", smtp_port=mail.port)
    made.clock = lambda: NOW
    made.deliver(events.CLINICIAN_REGISTERED, ev.clinician())
    yield made
    made.close()


def _cancelled(notes) -> list[dict]:
    with notes.runtime.sessions() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == events.NOTIFICATION_CANCELLED.type))
        return [json.loads(m.payload)["data"] for m in rows]


def test_an_invitation_not_sent_for_want_of_consent_says_so_once(notes):
    notes.deliver(events.CLIENT_REGISTERED, ev.client(consent_email=False))
    issued = notes.deliver(events.QUESTIONNAIRE_ISSUED, ev.issued(NOW + timedelta(days=7)))
    [said] = _cancelled(notes)
    assert said["template"] == "questionnaire_invitation" and said["error_class"] == "no consent to email"
    assert said["source_event_id"] == issued.id and said["recipient_id"] == "c1"
    with notes.runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0


def test_unsubscribe_is_announced_and_a_lifted_one_schedules_the_reminders_still_to_come(notes):
    from services.notifications.models import Contact
    from services.notifications.scheduled import unsubscribe_link

    notes.deliver(events.CLIENT_REGISTERED, ev.client())
    notes.deliver(events.APPOINTMENT_BOOKED, ev.booked(NOW + timedelta(days=5)))

    def reminders() -> list[tuple]:
        with notes.runtime.sessions() as s:
            rows = s.scalars(select(Delivery).where(Delivery.template == "appointment_reminder"))
            return [(d.status, d.last_error) for d in rows]

    assert reminders() == [(DeliveryStatus.PENDING, None)]

    path = re.sub(r"^https?://[^/]+", "", unsubscribe_link(notes.settings, Contact(id="c1")))
    assert notes.client.post(path).status_code == 200
    assert reminders() == [(DeliveryStatus.CANCELLED, "unsubscribed")]
    assert [c["error_class"] for c in _cancelled(notes)] == ["unsubscribed"]

    def announced() -> list[str]:
        with notes.runtime.sessions() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == events.CLIENT_OPTED_OUT.type))
            return [json.loads(m.payload)["data"]["client_id"] for m in rows]

    assert announced() == ["c1"]
    notes.deliver(events.CLIENT_REGISTERED, ev.client(version=2))  # a directory update keeps the unsubscribe
    with notes.runtime.sessions() as s:
        assert s.get(Contact, "c1").opted_out is True

    # The desk lifted it; the client, not knowing, unsubscribed again before the lift
    # reached notifications. The later wish stands, and is announced again so the desk's record follows it.
    lifted_at = datetime.now(UTC)
    assert notes.client.post(path).status_code == 200
    notes.deliver(events.CLIENT_REMINDERS_RESUMED, {"client_id": "c1", "resumed_at": lifted_at})
    assert announced() == ["c1", "c1"]
    with notes.runtime.sessions() as s:
        assert s.get(Contact, "c1").opted_out is True
    assert reminders() == [(DeliveryStatus.CANCELLED, "unsubscribed")]

    notes.deliver(events.CLIENT_REMINDERS_RESUMED, {"client_id": "c1", "resumed_at": datetime.now(UTC)})
    assert sorted(reminders()) == [(DeliveryStatus.CANCELLED, "unsubscribed"), (DeliveryStatus.PENDING, None)]
    with notes.runtime.sessions() as s:
        assert s.get(Contact, "c1").opted_out is False
