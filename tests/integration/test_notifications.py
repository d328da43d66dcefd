"""Notifications against a real SMTP server (aiosmtpd) and a real database. Time is moved by handing the
dispatcher a ``now``, so quiet hours, grace periods, reminders and backoff are tested without waiting."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from services.notifications.deliveries import Dispatcher
from services.notifications.models import Delivery
from services.notifications.smtp_channel import SmtpChannel
from shared.events import catalog as events
from shared.events.envelope import Event
from shared.messaging.tables import OutboxMessage
from shared.sealed import seal
from tests.support import events as ev
from tests.support.apps import make_app

NOW = datetime.now(UTC).replace(microsecond=0)


class Notifications:
    """Notifications on its own database, its handlers fed by hand, its clock and dispatcher under test control."""

    def __init__(self, tmp_path, mail, **settings):
        defaults = {
            "smtp_port": mail.port,
            "rate_per_second": 10_000.0,
            "quiet_start": "00:00",
            "quiet_end": "00:00",
            "practice_name": "Oak Street Practice",
        }
        self.clock = NOW
        self.service = make_app("notifications", f"sqlite:///{tmp_path / 'n.db'}", **{**defaults, **settings})
        self.service.clock = lambda: self.clock
        self.runtime, self.settings = self.service.runtime, self.service.settings
        self.dispatcher = Dispatcher(self.runtime.sessions, SmtpChannel(self.settings), self.settings)

    def deliver(self, spec, data: dict, subject: str = "c1") -> Event:
        return self.service.deliver(spec, data, subject)

    def invite_many(self, count: int) -> None:
        """``count`` clients (c0, c1, ...), each sent a questionnaire invitation."""
        for i in range(count):
            self.deliver(events.CLIENT_REGISTERED, ev.client(f"c{i}", email=f"client{i}@example.org"), f"c{i}")
            self.deliver(
                events.QUESTIONNAIRE_ISSUED, {**issued(), "assignment_id": f"q{i}", "client_id": f"c{i}"}, f"c{i}"
            )

    def dispatch(self, at: datetime) -> int:
        total = 0
        while True:
            sent = self.dispatcher.dispatch_once(at)
            total += sent
            if not sent:
                return total

    def deliveries(self, **where) -> list[Delivery]:
        with self.runtime.sessions() as s:
            stmt = select(Delivery).order_by(Delivery.created_at)
            for key, value in where.items():
                stmt = stmt.where(getattr(Delivery, key) == value)
            return list(s.scalars(stmt))


@pytest.fixture
def notes(tmp_path, mail):
    n = Notifications(tmp_path, mail)
    n.deliver(events.CLINICIAN_REGISTERED, ev.clinician())
    n.deliver(events.CLIENT_REGISTERED, CLIENT)
    return n


CLIENT = ev.client()


def booked(starts_at: datetime, sequence: int = 0, appointment_id: str = "a1") -> dict:
    return ev.booked(starts_at, appointment_id, sequence=sequence)


def issued(expires_in: timedelta = timedelta(hours=72)) -> dict:
    return ev.issued(NOW + expires_in)


def test_an_event_from_before_sealing_still_carries_a_working_link(notes, mail):
    legacy = {k: v for k, v in issued().items() if k != "sealed_url"}
    notes.deliver(events.QUESTIONNAIRE_ISSUED, {**legacy, "questionnaire_url": "http://127.0.0.1:8002/q/OLD-TOKEN"})
    assert notes.dispatch(NOW) == 1
    assert "OLD-TOKEN" in mail.messages()[0].text()


def test_a_link_sealed_with_another_key_is_not_sent(notes, mail):
    from cryptography.fernet import Fernet

    from shared import sealed

    foreign = sealed.seal(Fernet.generate_key().decode(), "http://127.0.0.1:8002/q/FORGED")
    with pytest.raises(sealed.SealError):
        notes.deliver(events.QUESTIONNAIRE_ISSUED, {**issued(), "sealed_url": foreign})
    assert notes.dispatch(NOW) == 0 and mail.messages() == []


def test_questionnaire_invitation_and_its_reminder(notes, mail):
    notes.deliver(events.QUESTIONNAIRE_ISSUED, issued())
    assert notes.dispatch(NOW) == 1
    [invitation] = mail.messages()
    assert invitation.to == "jo@example.org" and "SECRET-TOKEN" in invitation.text()
    assert "Hello Jo" in invitation.text() and "Start my check-in" in invitation.html()
    assert invitation.message["Message-ID"].endswith("@attune.notifications>")
    sent = notes.deliveries(template="questionnaire_invitation")[0]
    assert "questionnaire_url" not in sent.context  # the credential is cleared once sent

    assert notes.dispatch(NOW + timedelta(hours=23)) == 0
    assert notes.dispatch(NOW + timedelta(hours=24, minutes=1)) == 1
    assert mail.messages()[1].subject == "A reminder: your check-in"


def test_completing_the_questionnaire_cancels_the_reminder(notes, mail):
    notes.deliver(events.QUESTIONNAIRE_ISSUED, issued())
    assert notes.dispatch(NOW) == 1  # the invitation
    notes.deliver(
        events.QUESTIONNAIRE_COMPLETED,
        {"assignment_id": "q1", "client_id": "c1", "clinician_id": "k1", "completed_at": NOW, "scores": []},
    )
    assert notes.dispatch(NOW + timedelta(days=3)) == 0
    assert [d.status for d in notes.deliveries(template="questionnaire_reminder")] == ["cancelled"]


def test_alert_email_says_nothing_clinical(notes, mail):
    notes.deliver(
        events.ALERT_RAISED,
        {
            "alert_id": "al1",
            "client_id": "c1",
            "clinician_id": "k1",
            "rule": "risk_item",
            "severity": "urgent",
            "raised_at": NOW,
        },
    )
    notes.dispatch(NOW)
    [alert] = mail.messages()
    body = alert.subject + alert.text() + alert.html()
    assert alert.to == "ada@practice.example" and alert.subject.startswith("URGENT")
    for leak in ("Jo", "jo@example.org", "PHQ", "risk", "score", "item"):
        assert leak not in body
    assert "/alerts/al1" in body


def test_alerts_ignore_quiet_hours_but_client_mail_waits(tmp_path, mail):
    n = Notifications(tmp_path, mail, quiet_start="21:00", quiet_end="08:00")
    n.deliver(
        events.CLINICIAN_REGISTERED,
        {
            "clinician_id": "k1",
            "name": "Dr A",
            "email": "ada@practice.example",
            "timezone": "Europe/London",
            "active": True,
        },
    )
    n.deliver(events.CLIENT_REGISTERED, CLIENT)
    night = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 22:30 in London
    n.clock = night
    n.deliver(events.QUESTIONNAIRE_ISSUED, {**issued(), "expires_at": night + timedelta(hours=72)})
    n.deliver(
        events.ALERT_RAISED,
        {
            "alert_id": "al1",
            "client_id": "c1",
            "clinician_id": "k1",
            "rule": "risk_item",
            "severity": "urgent",
            "raised_at": night,
        },
    )
    [invitation] = n.deliveries(template="questionnaire_invitation")
    assert invitation.due_at.astimezone(UTC) >= datetime(2026, 1, 16, 8, 0, tzinfo=UTC)
    assert n.dispatch(night + timedelta(minutes=1)) == 1
    assert [m.to for m in mail.messages()] == ["ada@practice.example"]
    assert n.dispatch(datetime(2026, 1, 16, 8, 0, tzinfo=UTC)) == 1
    assert mail.messages()[1].to == "jo@example.org"


def _calendar(message) -> Calendar:
    [part] = [p for p in message.message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_content())


def test_confirmation_after_the_grace_period_with_an_ics_invitation(notes, mail):
    start = NOW + timedelta(days=3)
    notes.deliver(events.APPOINTMENT_BOOKED, booked(start))
    assert notes.dispatch(NOW + timedelta(minutes=2)) == 0  # still inside the grace period
    assert notes.dispatch(NOW + timedelta(minutes=3, seconds=1)) == 1
    [confirmation] = mail.messages()
    assert confirmation.subject == "Your appointment is booked"
    cal = _calendar(confirmation)
    [event] = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "REQUEST" and str(event["UID"]) == "a1@attune" and event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == start
    assert "Okafor" not in cal.to_ical().decode()  # no clinician or therapy named in a calendar


def test_quick_edits_send_one_message_with_the_final_time(notes, mail):
    first, second = NOW + timedelta(days=3), NOW + timedelta(days=4)
    notes.deliver(events.APPOINTMENT_BOOKED, booked(first))
    notes.deliver(
        events.APPOINTMENT_RESCHEDULED,
        {**booked(second, 1), "previous_starts_at": first, "previous_ends_at": first + timedelta(minutes=50)},
    )
    assert notes.dispatch(NOW + timedelta(minutes=10)) == 1
    [only] = mail.messages()
    assert only.subject == "Your appointment is booked"
    assert _calendar(only).walk("VEVENT")[0].decoded("DTSTART") == second


def test_booked_then_cancelled_within_the_grace_period_sends_nothing(notes, mail):
    notes.deliver(events.APPOINTMENT_BOOKED, booked(NOW + timedelta(days=3)))
    notes.deliver(
        events.APPOINTMENT_CANCELLED,
        {
            "appointment_id": "a1",
            "client_id": "c1",
            "clinician_id": "k1",
            "starts_at": NOW + timedelta(days=3),
            "cancelled_by": "client",
            "late_cancel": False,
            "sequence": 1,
        },
    )
    assert notes.dispatch(NOW + timedelta(days=5)) == 0
    assert mail.messages() == []


def test_change_and_cancellation_after_the_confirmation(notes, mail):
    first, second = NOW + timedelta(days=3), NOW + timedelta(days=4)
    notes.deliver(events.APPOINTMENT_BOOKED, booked(first))
    notes.dispatch(NOW + timedelta(minutes=4))
    notes.deliver(
        events.APPOINTMENT_RESCHEDULED,
        {**booked(second, 1), "previous_starts_at": first, "previous_ends_at": first + timedelta(minutes=50)},
    )
    notes.dispatch(NOW + timedelta(minutes=8))
    notes.deliver(
        events.APPOINTMENT_CANCELLED,
        {
            "appointment_id": "a1",
            "client_id": "c1",
            "clinician_id": "k1",
            "starts_at": second,
            "cancelled_by": "practice",
            "late_cancel": False,
            "sequence": 2,
        },
    )
    notes.dispatch(NOW + timedelta(minutes=12))
    subjects = [m.subject for m in mail.messages()]
    assert subjects == ["Your appointment is booked", "Your appointment has changed", "Your appointment is cancelled"]
    cancel_cal = _calendar(mail.messages()[2])
    assert str(cancel_cal["METHOD"]) == "CANCEL" and cancel_cal.walk("VEVENT")[0]["SEQUENCE"] == 2
    assert notes.dispatch(second) == 0  # the reminders went with the appointment


def test_reminder_moves_with_the_appointment_and_carries_signed_links(notes, mail):
    first, second = NOW + timedelta(days=3), NOW + timedelta(days=5)
    notes.deliver(events.APPOINTMENT_BOOKED, booked(first))
    notes.deliver(
        events.APPOINTMENT_RESCHEDULED,
        {**booked(second, 1), "previous_starts_at": first, "previous_ends_at": first + timedelta(minutes=50)},
    )
    notes.dispatch(NOW + timedelta(minutes=5))
    assert notes.dispatch(first - timedelta(hours=24)) == 0  # the old reminder is gone
    assert notes.dispatch(second - timedelta(hours=23, minutes=59)) == 1
    reminder = mail.messages()[-1]
    assert reminder.subject == "Reminder: your appointment"
    assert "/r/" in reminder.text() and "/unsubscribe/" in reminder.text()
    assert reminder.message["List-Unsubscribe"]


def test_reminder_is_rechecked_at_send_time(notes, mail):
    start = NOW + timedelta(days=2)
    notes.deliver(events.APPOINTMENT_BOOKED, booked(start))
    notes.dispatch(NOW + timedelta(minutes=5))
    notes.deliver(
        events.APPOINTMENT_CHECKED_IN,
        {"appointment_id": "a1", "client_id": "c1", "clinician_id": "k1", "checked_in_at": NOW},
    )
    assert notes.dispatch(start - timedelta(hours=23)) == 0
    # And when the projection changed without its event reaching the schedule (belt and braces):
    notes.deliver(events.APPOINTMENT_BOOKED, booked(start + timedelta(days=7), appointment_id="a2"))
    [pending] = notes.deliveries(template="appointment_reminder", status="pending")
    with notes.runtime.sessions() as s, s.begin():
        from services.notifications.models import AppointmentRecord

        s.get(AppointmentRecord, "a2").status = "cancelled"
    assert notes.dispatch(start + timedelta(days=7)) == 1  # the a2 confirmation; its reminder is refused
    assert notes.deliveries(id=pending.id)[0].last_error == "appointment is cancelled"


def test_smtp_down_during_a_burst_of_500_every_message_arrives_once(tmp_path, mail):
    n = Notifications(tmp_path, mail)
    for i in range(500):
        client = {**CLIENT, "client_id": f"c{i}", "email": f"client{i}@example.org"}
        n.deliver(events.CLIENT_REGISTERED, client, subject=f"c{i}")
        n.deliver(
            events.QUESTIONNAIRE_ISSUED, {**issued(), "assignment_id": f"q{i}", "client_id": f"c{i}"}, subject=f"c{i}"
        )
    mail.handler.refuse_with = "421 4.3.2 Service not available, try later"
    n.dispatch(NOW)  # every attempt refused: all back to pending with backoff
    mail.stop()  # then the server is gone altogether: connections refused
    n.dispatch(NOW + timedelta(seconds=30))
    mail.handler.refuse_with = None
    mail.start()
    at = NOW + timedelta(minutes=1)
    while n.deliveries(status="pending", template="questionnaire_invitation") and at < NOW + timedelta(hours=2):
        n.dispatch(at)
        at += timedelta(minutes=5)
    received = mail.messages()
    assert len(received) == 500
    assert len({m.message["Message-ID"] for m in received}) == 500
    assert sorted(m.to for m in received) == sorted(f"client{i}@example.org" for i in range(500))
    invitations = n.deliveries(template="questionnaire_invitation")
    assert {d.status for d in invitations} == {"sent"}
    assert min(d.attempts for d in invitations) >= 3  # refused, then unreachable, then delivered
    with n.runtime.sessions() as s:
        sent_events = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.event_type == "attune.notifications.notification.sent")
        )
    assert sent_events == 500


def test_permanent_failure_is_recorded_and_reported(notes, mail):
    mail.handler.refuse_with = "550 5.1.1 Mailbox does not exist"
    notes.deliver(events.QUESTIONNAIRE_ISSUED, issued())
    notes.dispatch(NOW)
    [delivery] = notes.deliveries(template="questionnaire_invitation")
    assert delivery.status == "failed" and delivery.attempts == 1 and "550" in delivery.last_error
    with notes.runtime.sessions() as s:
        failed = s.scalars(select(OutboxMessage.event_type)).all()
    assert "attune.notifications.notification.failed" in failed


class _Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


class CrashingChannel(SmtpChannel):
    def __init__(self, settings, crash_on: int, after_send: bool):
        super().__init__(settings)
        self.calls, self.crash_on, self.after_send = 0, crash_on, after_send

    def send(self, message):
        self.calls += 1
        if self.calls == self.crash_on and not self.after_send:
            raise _Killed
        super().send(message)
        if self.calls == self.crash_on:
            raise _Killed


@pytest.mark.parametrize("after_send", [False, True], ids=["killed-before-sending", "killed-after-sending"])
def test_a_worker_killed_mid_batch(tmp_path, mail, after_send):
    n = Notifications(tmp_path, mail)
    n.invite_many(10)
    crashing = Dispatcher(n.runtime.sessions, CrashingChannel(n.settings, 4, after_send), n.settings)
    with pytest.raises(_Killed):
        crashing.dispatch_once(NOW)
    n.dispatch(NOW + timedelta(minutes=3))  # a new worker, after the two-minute lease
    received = mail.messages()
    ids = [m.message["Message-ID"] for m in received]
    assert len(set(ids)) == 10  # every message arrived
    flagged = [d for d in n.deliveries() if d.possible_duplicate]
    assert len(flagged) == 1  # the one delivery in flight when the worker died: the ledger cannot know more
    # The other nine were either finished or never claimed: each went exactly once.
    others = [d for d in n.deliveries(template="questionnaire_invitation") if d.id != flagged[0].id]
    assert len(others) == 9 and all(ids.count(f"<{d.id}@attune.notifications>") == 1 for d in others)
    if not after_send:
        assert len(ids) == 10  # it had not reached SMTP: no duplicate at all
    else:  # it had: sent again under the same Message-ID, flagged, never silent
        assert len(ids) == 11 and ids.count(f"<{flagged[0].id}@attune.notifications>") == 2


def test_a_redelivered_event_enqueues_nothing_new(notes, mail):
    from shared.messaging.consumer import ConsumerLoop
    from tests.support.fakes import FakeProducer, Record

    event = ev.make(events.QUESTIONNAIRE_ISSUED, issued())
    loop = ConsumerLoop("notifications", notes.service.wiring.handlers, notes.runtime.sessions, None, None)
    record = Record(event.to_json().encode(), topic="attune.feedback")
    assert [loop.process(record, FakeProducer()) for _ in range(2)] == ["handled", "duplicate"]
    notes.dispatch(NOW)
    notes.dispatch(NOW + timedelta(hours=25))
    assert len([m for m in mail.messages() if "check-in" in m.subject.lower()]) == 2  # invitation + reminder


def _through_an_outage(n: Notifications, hours: float, step: timedelta = timedelta(minutes=5)) -> datetime:
    """Dispatch every ``step`` of simulated time for ``hours``; returns the time reached."""
    at = NOW
    while at < NOW + timedelta(hours=hours):
        n.dispatch(at)
        at += step
    return at


def test_an_smtp_outage_of_hours_never_fails_an_alert_notice(tmp_path, mail):
    """Six simulated hours of 421s: the therapist's alert is retried throughout (backoff capped at five
    minutes), never marked failed, and delivered once when the server is back; a client message gives up
    after its own, shorter, limit."""
    n = Notifications(tmp_path, mail, client_retry_hours=2)
    n.deliver(events.CLINICIAN_REGISTERED, ev.clinician())
    n.deliver(events.CLIENT_REGISTERED, CLIENT)
    n.deliver(events.ALERT_RAISED, ev.alert("urgent", raised_at=NOW))
    n.deliver(events.QUESTIONNAIRE_ISSUED, issued(timedelta(hours=72)))
    mail.handler.refuse_with = "421 4.3.2 Service not available, try later"
    at = _through_an_outage(n, hours=6)
    [alert] = n.deliveries(template="alert_notice")
    assert alert.status == "pending" and alert.attempts >= 60  # about every five minutes for six hours
    [invitation] = n.deliveries(template="questionnaire_invitation")
    assert invitation.status == "failed" and invitation.last_error.startswith("gave up after")

    mail.handler.refuse_with = None
    n.dispatch(at + timedelta(minutes=5))
    assert [m.subject for m in mail.messages()] == ["URGENT: A client on your caseload needs attention"]
    assert n.deliveries(template="alert_notice")[0].status == "sent"


def test_smtp_authentication_failure_keeps_the_message_and_tells_the_admin(tmp_path, mail):
    n = Notifications(tmp_path, mail)
    n.deliver(events.CLINICIAN_REGISTERED, ev.clinician())
    n.deliver(events.ALERT_RAISED, ev.alert("high", raised_at=NOW))
    mail.handler.refuse_with = "535 5.7.8 Authentication credentials invalid"
    _through_an_outage(n, hours=1)
    [alert] = n.deliveries(template="alert_notice")
    assert alert.status == "pending" and alert.last_error == "operational: SMTP 535"

    from services.notifications import create_app

    web = n.service.sign_in("admin", client=create_app(n.runtime.settings, n.runtime).test_client())
    page = web.get("/admin/deliveries").get_data(as_text=True)
    assert "The mail server is refusing our messages" in page and "SMTP 535" in page

    mail.handler.refuse_with = None
    n.dispatch(NOW + timedelta(hours=2))
    assert len(mail.messages()) == 1 and n.deliveries(template="alert_notice")[0].status == "sent"
    page = web.get("/admin/deliveries").get_data(as_text=True)
    assert "refusing our messages" not in page


def test_a_timeout_after_the_body_was_sent_flags_the_retry_as_a_possible_duplicate(tmp_path, mail):
    n = Notifications(tmp_path, mail, smtp_timeout=0.5)
    n.deliver(events.CLINICIAN_REGISTERED, ev.clinician())
    n.deliver(events.ALERT_RAISED, ev.alert("urgent", raised_at=NOW))
    mail.handler.stall_seconds = 1.5  # the server takes the body, then answers too late
    n.dispatch(NOW)
    [alert] = n.deliveries(template="alert_notice")
    assert alert.status == "pending" and alert.possible_duplicate is True

    mail.handler.stall_seconds = 0
    n.dispatch(NOW + timedelta(minutes=10))
    [resent] = mail.messages()  # this server dropped the first copy with the connection; another might not
    assert resent.message["Message-ID"] == f"<{alert.id}@attune.notifications>"  # a copy would share it
    [alert] = n.deliveries(template="alert_notice")
    assert alert.status == "sent" and alert.possible_duplicate is True  # shown on the delivery log


def test_a_message_that_cannot_be_rendered_fails_once_and_is_reported(notes, mail):
    from services.notifications import deliveries
    from services.notifications.models import Contact

    source = ev.make(events.ALERT_RAISED, ev.alert(raised_at=NOW))
    with notes.runtime.sessions() as s, s.begin():
        deliveries.enqueue(s, "alert_notice", s.get(Contact, "k1"), source, context={})  # no alert_url
    notes.dispatch(NOW)
    notes.dispatch(NOW + timedelta(hours=1))
    [broken] = notes.deliveries(template="alert_notice")
    assert broken.status == "failed" and broken.attempts == 1
    assert broken.last_error == "could not render: UndefinedError"
    with notes.runtime.sessions() as s:
        failed = s.scalars(select(OutboxMessage.event_type)).all()
    assert failed == ["attune.notifications.notification.failed"]


def _with_supervisor(tmp_path, mail, **settings) -> Notifications:
    n = Notifications(tmp_path, mail, **settings)
    n.deliver(events.CLINICIAN_REGISTERED, ev.clinician("k9", name="Dr Sup", email="sup@practice.example"), "k9")
    n.deliver(events.CLINICIAN_REGISTERED, ev.clinician(supervisor_id="k9"))
    return n


def test_an_urgent_alert_also_reaches_the_supervisor_and_on_call(tmp_path, mail):
    n = _with_supervisor(tmp_path, mail, oncall_address="oncall@practice.example")
    n.deliver(events.ALERT_RAISED, ev.alert("urgent", "al1", raised_at=NOW))
    n.deliver(events.ALERT_RAISED, ev.alert("moderate", "al2", rule="off_track", raised_at=NOW))
    n.dispatch(NOW)
    to = sorted(m.to for m in mail.messages())
    assert to == ["ada@practice.example", "ada@practice.example", "oncall@practice.example", "sup@practice.example"]
    backup = next(m for m in mail.messages() if m.to == "sup@practice.example")
    assert "of a clinician you back up" in backup.text() and "Jo" not in backup.text()


def test_without_a_supervisor_the_practice_address_is_told(tmp_path, mail):
    n = Notifications(tmp_path, mail, supervisor_address="clinical-lead@practice.example")
    n.deliver(events.CLINICIAN_REGISTERED, ev.clinician())
    n.deliver(events.ALERT_RAISED, ev.alert("urgent", raised_at=NOW))
    n.dispatch(NOW)
    assert sorted(m.to for m in mail.messages()) == ["ada@practice.example", "clinical-lead@practice.example"]


def test_an_alert_the_therapist_cannot_receive_goes_to_the_supervisor_saying_so(tmp_path, mail):
    n = _with_supervisor(tmp_path, mail, oncall_address="oncall@practice.example")
    n.deliver(events.ALERT_RAISED, ev.alert("high", raised_at=NOW))  # not urgent: the therapist alone
    mail.handler.refuse_with = "550 5.1.1 Mailbox does not exist"
    assert n.dispatcher.dispatch_once(NOW) == 1  # the therapist's notice: refused for good
    mail.handler.refuse_with = None
    n.dispatch(NOW + timedelta(minutes=1))
    told = {m.to: m.text() for m in mail.messages()}
    assert set(told) == {"sup@practice.example", "oncall@practice.example"}
    assert all("therapist could not be reached" in text for text in told.values())
    with n.runtime.sessions() as s:
        failed = s.scalar(
            select(OutboxMessage).where(OutboxMessage.event_type == "attune.notifications.notification.failed")
        )
    assert '"alert_id":"al1"' in failed.payload  # feedback marks the alert "therapist not reached"


def test_an_unacknowledged_escalation_goes_to_everyone_again(tmp_path, mail):
    n = _with_supervisor(tmp_path, mail, oncall_address="oncall@practice.example")
    n.deliver(
        events.ALERT_ESCALATED,
        {**ev.alert("urgent", raised_at=NOW), "previous_severity": "urgent", "reason": "unacknowledged"},
    )
    n.dispatch(NOW)
    assert len(mail.messages()) == 3
    assert all("Nobody has acknowledged this urgent alert yet" in m.text() for m in mail.messages())


def test_client_messages_are_rechecked_against_the_directory_when_they_fall_due(notes, mail):
    """Queued client messages follow the directory as it is when they are sent: a corrected address
    re-addresses them; an expired link or a discharge cancels them, saying why."""
    notes.deliver(events.QUESTIONNAIRE_ISSUED, issued())
    notes.deliver(events.QUESTIONNAIRE_ISSUED, issued(timedelta(hours=1)) | {"assignment_id": "q2"})
    notes.deliver(events.APPOINTMENT_BOOKED, booked(NOW + timedelta(days=3)))
    notes.deliver(events.CLIENT_UPDATED, ev.client(email="jo.new@example.org"))
    assert notes.dispatch(NOW + timedelta(hours=2)) == 2  # q1's invitation and the confirmation
    assert [m.to for m in mail.messages()] == ["jo.new@example.org"] * 2  # to the corrected address
    expired = notes.deliveries(template="questionnaire_invitation", status="cancelled")
    assert [d.last_error for d in expired] == ["link expired"]  # q2's link lapsed before it could go
    notes.deliver(events.CLIENT_DISCHARGED, {"client_id": "c1", "episode_id": "e1", "discharged_at": NOW})
    assert notes.dispatch(NOW + timedelta(days=3)) == 0
    for template in ("appointment_reminder", "questionnaire_reminder"):
        [reminder] = notes.deliveries(template=template)
        assert (reminder.status, reminder.last_error) == ("cancelled", "client discharged")


def test_a_questionnaire_message_waits_for_consent_at_send_time(notes, mail):
    notes.deliver(events.QUESTIONNAIRE_ISSUED, issued())
    notes.deliver(events.CLIENT_UPDATED, ev.client(consent_email=False))
    assert notes.dispatch(NOW) == 0
    [invitation] = notes.deliveries(template="questionnaire_invitation")
    assert invitation.status == "cancelled" and invitation.last_error == "consent to email withdrawn"


VIDEO, NEW_VIDEO = "https://video.example.org/join/room-4711?pwd=s3cret", "https://video.example.org/join/room-9000"


def _video_booking(notes, start, url, sequence=0, spec=events.APPOINTMENT_BOOKED):
    sealed_url = seal(notes.settings.link_key, url) if url else None
    data = {**booked(start, sequence), "modality": "telehealth", "sealed_telehealth_url": sealed_url}
    notes.deliver(spec, data)


def test_the_video_link_reaches_the_client_in_the_email_and_the_calendar_entry(notes, mail):
    start = NOW + timedelta(days=3)
    _video_booking(notes, start, VIDEO)
    notes.dispatch(NOW + timedelta(minutes=4))
    [confirmation] = mail.messages()
    assert f"Where: by video: {VIDEO}" in confirmation.text()
    assert f'href="{VIDEO}"'.replace("&", "&amp;") in confirmation.html()
    [event] = _calendar(confirmation).walk("VEVENT")
    assert str(event["LOCATION"]) == VIDEO and str(event["URL"]) == VIDEO
    conference = event["CONFERENCE"]  # RFC 7986
    assert str(conference) == VIDEO and conference.params["FEATURE"] == "VIDEO"
    assert conference.params["VALUE"] == "URI" and conference.params["LABEL"] == "Video call"
    for d in notes.deliveries():  # the ledger keeps only the sealed link
        assert VIDEO not in str(d.context)

    # a new link: the client is told, with an updated calendar entry, and the reminders carry the new link
    _video_booking(notes, start, NEW_VIDEO, 1, events.APPOINTMENT_DETAILS_CHANGED)
    notes.dispatch(NOW + timedelta(minutes=8))
    change = mail.messages()[-1]
    assert (
        change.subject == "Your appointment has changed" and NEW_VIDEO in change.text() and VIDEO not in change.text()
    )
    [updated] = _calendar(change).walk("VEVENT")
    assert str(updated["UID"]) == "a1@attune" and updated["SEQUENCE"] == 1 and str(updated["URL"]) == NEW_VIDEO
    reminders = [d for d in notes.deliveries(template="appointment_reminder") if d.status == "pending"]
    assert reminders and len(reminders) == len(notes.settings.reminder_offsets_hours)
    notes.dispatch(start - timedelta(hours=min(notes.settings.reminder_offsets_hours)) + timedelta(minutes=1))
    [reminder] = [m for m in mail.messages() if m.subject == "Reminder: your appointment"]
    assert NEW_VIDEO in reminder.text()


def test_a_video_appointment_without_a_link_says_the_therapist_will_share_it(notes, mail):
    _video_booking(notes, NOW + timedelta(days=3), None)
    notes.dispatch(NOW + timedelta(minutes=4))
    [confirmation] = mail.messages()
    assert "by video (your therapist will share the link)" in confirmation.text()
    assert str(_calendar(confirmation).walk("VEVENT")[0]["LOCATION"]) == "Video call"


def test_a_questionnaire_handed_to_a_practice_tablet_is_not_sent(notes, mail):
    notes.deliver(events.QUESTIONNAIRE_ISSUED, {**issued(), "delivery": "kiosk"})
    assert notes.dispatch(NOW + timedelta(days=2)) == 0
    assert notes.deliveries() == [] and mail.messages() == []
    notes.deliver(events.QUESTIONNAIRE_ISSUED, {**issued(), "assignment_id": "q2"})  # an ordinary one still goes
    assert notes.dispatch(NOW) == 1


def test_a_client_who_prefers_texts_gets_the_questionnaire_by_text(notes, mail):
    notes.deliver(
        events.CLIENT_UPDATED,
        {**CLIENT, "phone": "+447400123456", "preferred_channel": "sms", "consent_sms": True, "version": 2},
    )
    notes.deliver(events.QUESTIONNAIRE_ISSUED, issued())
    [invitation] = notes.deliveries(template="questionnaire_invitation")
    assert (invitation.channel, invitation.to_address) == ("sms", "+447400123456")
    reminder = notes.deliveries(template="questionnaire_reminder")
    assert [r.channel for r in reminder] == ["sms"]


def test_a_shared_progress_report_is_sent_and_its_link_forgotten(notes, mail):
    url = "http://127.0.0.1:8002/p/REPORT-TOKEN"
    data = {
        "share_id": "s1",
        "client_id": "c1",
        "clinician_id": "k1",
        "sealed_url": seal(notes.settings.link_key, url),
        "expires_at": NOW + timedelta(days=7),
    }
    notes.deliver(events.PROGRESS_SHARED, data)
    assert notes.dispatch(NOW) == 1
    [message] = mail.messages()
    assert message.subject == "Your progress so far" and url in message.text()
    [sent] = notes.deliveries(template="progress_report")
    assert "report_url" not in sent.context  # the credential is cleared once sent


class CountingChannel(SmtpChannel):
    def __init__(self, settings):
        super().__init__(settings)
        self.connections = 0

    def _connect(self):
        self.connections += 1
        return super()._connect()


def test_several_senders_over_reused_connections_send_each_message_once(tmp_path, mail):
    """Four sender threads, each over one SMTP connection it keeps: 20 invitations, each delivered once."""
    n = Notifications(tmp_path, mail)
    n.invite_many(20)
    channel = CountingChannel(n.settings)
    dispatcher = Dispatcher(n.runtime.sessions, channel, n.settings, concurrency=4)
    assert dispatcher.dispatch_once(NOW) == 20
    ids = [m.message["Message-ID"] for m in mail.messages()]
    assert len(ids) == len(set(ids)) == 20
    assert {d.status for d in n.deliveries(template="questionnaire_invitation")} == {"sent"}
    assert channel.connections <= 4  # one per sender thread at most, not one per message


def test_a_connection_the_server_closed_meanwhile_is_replaced_without_a_duplicate_flag(tmp_path, mail):
    n = Notifications(tmp_path, mail)
    n.invite_many(2)
    channel = CountingChannel(n.settings)
    dispatcher = Dispatcher(n.runtime.sessions, channel, n.settings)
    first, second = [d.id for d in n.deliveries(template="questionnaire_invitation")]
    dispatcher._deliver(first, NOW, None)
    channel._local.client.sock.shutdown(socket.SHUT_RDWR)  # the connection died while it sat idle
    dispatcher._deliver(second, NOW, None)
    assert channel.connections == 2 and len(mail.messages()) == 2
    assert [(d.status, d.possible_duplicate) for d in n.deliveries(template="questionnaire_invitation")] == [
        ("sent", False),
        ("sent", False),
    ]
