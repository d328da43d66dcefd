"""The chaos run's count (``bench/tally.py``) finds what it must: a message that never reached the mail server is
lost, a message the server holds twice is a duplicate (flagged only when its delivery says so), and a missing
copy of an urgent notice is a loss even when the therapist's went out."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import create_engine, insert

from bench.flows import Flow
from bench.tally import count
from services.feedback.models import Alert, Assignment
from services.feedback.models import Base as FeedbackBase
from services.notifications.models import Base as NotificationsBase
from services.notifications.models import Delivery
from services.scheduling.models import Appointment
from services.scheduling.models import Base as SchedulingBase

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _database(path, base, table, rows):
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    engine.dispose()
    return url


def _appointment(n, client):
    return dict(id=f"a{n}", client_id=client, clinician_id="dr", type_id="t", starts_at=NOW, ends_at=NOW,
                status="completed")  # fmt: skip


def _assignment(n, client):
    return dict(id=f"q{n}", client_id=client, clinician_id="dr", source_event_id=f"e{n}", trigger="session",
                measures=["phq9"], status="completed", issued_at=NOW, completed_at=NOW)  # fmt: skip


def _delivery(id_, template, subject, recipient="x", context=None, flagged=False):
    return dict(id=id_, idempotency_key=id_, template=template, recipient_kind="client", recipient_id=recipient,
                to_address="x@example.org", context=context or {}, source_event_id="e", subject_id=subject,
                status="sent", possible_duplicate=flagged)  # fmt: skip


def _mail(directory, *delivery_ids):
    directory.mkdir(exist_ok=True)
    for n, delivery in enumerate(delivery_ids):
        message = EmailMessage()
        message["X-Attune-Delivery"] = delivery
        message.set_content("x")
        (directory / f"{n:04d}.eml").write_bytes(message.as_bytes())


def test_losses_and_duplicates_are_found_and_told_apart(tmp_path):
    urls = {
        "scheduling": _database(
            tmp_path / "s.db",
            SchedulingBase,
            Appointment,
            [_appointment(0, "steady"), _appointment(1, "risk"), _appointment(2, "worse"), _appointment(3, "worse")],
        ),  # fmt: skip
    }
    feedback = _database(tmp_path / "f.db", FeedbackBase, Assignment,
                         [_assignment(1, "risk"), _assignment(2, "worse"), _assignment(3, "worse")])  # fmt: skip
    engine = create_engine(feedback)
    with engine.begin() as conn:
        conn.execute(insert(Alert), [
            dict(id="al1", client_id="risk", clinician_id="dr", rule="risk", measure="phq9", severity="urgent",
                 status="open", explanation="-"),
            dict(id="al2", client_id="worse", clinician_id="dr", rule="rci", measure="phq9", severity="high",
                 status="open", explanation="-"),
        ])  # fmt: skip
    engine.dispose()
    urls["feedback"] = feedback
    urls["notifications"] = _database(tmp_path / "n.db", NotificationsBase, Delivery, [
        _delivery("i0", "questionnaire_invitation", "steady"),
        _delivery("i1", "questionnaire_invitation", "risk"),  # marked sent, but the sink never got it: lost
        _delivery("i2", "questionnaire_invitation", "worse") | {"status": "cancelled"},  # reached the sink all the same
        _delivery("i3", "questionnaire_invitation", "worse"),  # in the sink twice, not flagged
        _delivery("n1", "alert_notice", "risk", "dr", {"alert_id": "al1"}, flagged=True),  # twice, flagged
        _delivery("n2", "alert_notice", "risk", "sup", {"alert_id": "al1", "for_supervisor": True}),
        # no notice to on-call for al1: lost
        _delivery("n3", "alert_notice", "worse", "dr", {"alert_id": "al2"}),
    ])  # fmt: skip
    _mail(tmp_path / "mail", "i0", "i2", "i3", "i3", "n1", "n1", "n2", "n3")
    flows = [
        Flow(0, "steady", client_id="steady", clinician_id="dr", done=True),
        Flow(1, "risk", client_id="risk", clinician_id="dr", done=True),
        Flow(2, "deteriorating", client_id="worse", clinician_id="dr", done=True),
    ]

    tally = count(flows, urls, tmp_path / "mail", {"dr": "sup"})

    invitations = tally.check("invitation per completed session")
    assert (invitations.expected, invitations.delivered, invitations.lost) == (4, 3, 1)
    assert (invitations.duplicated, invitations.flagged) == (1, 0)
    therapist = tally.check("alert notice to the therapist")
    assert (therapist.expected, therapist.lost, therapist.flagged, therapist.duplicated) == (2, 0, 1, 0)
    assert tally.check("urgent notice to the supervisor").lost == 0
    assert tally.check("urgent notice to on-call").lost == 1
    assert tally.check("urgent alert per risk answer").delivered == 1
    assert tally.check("alert per deterioration").delivered == 1
    assert (tally.lost, tally.unflagged_duplicates, tally.flagged_duplicates) == (2, 1, 1)
    assert tally.ledger_disagrees == 1  # i2: cancelled in the ledger, yet the client has it
    assert tally.losses == ["flow 1 invitations: i1 sent", "alert al1 on-call: no delivery in the ledger"]
    assert [f.lost for f in flows] == [0, 2, 0]
    assert tally.unfinished == []


def test_an_alert_for_a_steady_client_is_a_duplicate_and_an_unfinished_flow_is_reported(tmp_path):
    urls = {
        "scheduling": _database(tmp_path / "s.db", SchedulingBase, Appointment, [_appointment(0, "c")]),
        "feedback": _database(
            tmp_path / "f.db",
            FeedbackBase,
            Alert,
            [
                dict(
                    id="al",
                    client_id="c",
                    clinician_id="dr",
                    rule="risk",
                    measure="phq9",
                    severity="urgent",
                    status="open",
                    explanation="-",
                )
            ],
        ),  # fmt: skip
        "notifications": _database(
            tmp_path / "n.db", NotificationsBase, Delivery, [_delivery("i0", "questionnaire_invitation", "c")]
        ),  # fmt: skip
    }
    _mail(tmp_path / "mail", "i0")
    tally = count([Flow(0, "steady", client_id="c", error="RuntimeError: gave up")], urls, tmp_path / "mail", {})
    assert tally.check("no alert for a steady client").duplicated == 1
    assert tally.lost == 0 and tally.ledger_disagrees == 0
    assert tally.unfinished == ["flow 0 (steady): RuntimeError: gave up"]
