"""Counting what came out of a run, from the SMTP sink's files and the three databases, against what the flows
put in: for every completed session exactly one invitation; for every risk answer one urgent alert and one
notice each to the therapist, the supervisor and on-call; for every deterioration one alert and one notice to
the therapist; nothing else dead-lettered than the injected poison. A message the sink holds twice is a
duplicate: flagged when its delivery was marked ``possible_duplicate`` (a crash between the mail server's
acceptance and the commit), unflagged otherwise.
"""

from __future__ import annotations

import email
import email.policy
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, select

from bench.flows import Flow
from services.feedback.models import Alert, Assignment
from services.notifications.models import Delivery
from services.scheduling.models import Appointment
from shared.statuses import AppointmentStatus, DeliveryStatus, Severity


@dataclass
class Check:
    name: str
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0  # unflagged
    flagged: int = 0  # possible_duplicate, allowed up to the kills that could have caused them

    def row(self) -> list:
        return [self.name, self.expected, self.delivered, self.lost, self.duplicated, self.flagged]


@dataclass
class Tally:
    checks: dict[str, Check] = field(default_factory=dict)
    flows: int = 0
    unfinished: list[str] = field(default_factory=list)  # flows the driver could not finish, and why
    dead_letters_poison: int = 0
    dead_letters_other: int = 0
    faults: list[list] = field(default_factory=list)  # per scenario: flows touched, their losses
    quiescence: dict = field(default_factory=dict)  # what was still moving when the run stopped waiting
    losses: list[str] = field(default_factory=list)  # each loss, with the ledger's state of its deliveries
    ledger_disagrees: int = 0  # delivered (the sink has it) while the ledger says otherwise

    def check(self, name: str) -> Check:
        return self.checks.setdefault(name, Check(name))

    @property
    def lost(self) -> int:
        return sum(c.lost for c in self.checks.values())

    @property
    def unflagged_duplicates(self) -> int:
        return sum(c.duplicated for c in self.checks.values())

    @property
    def flagged_duplicates(self) -> int:
        return sum(c.flagged for c in self.checks.values())


def sink_copies(directory: Path) -> Counter:
    """How many times the sink holds each delivery (by its Message-ID's delivery id)."""
    copies: Counter = Counter()
    for path in directory.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        delivery = message.get("X-Attune-Delivery")
        if delivery:
            copies[str(delivery)] += 1
    return copies


def _rows(url: str, query):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(query).all()
    finally:
        engine.dispose()


def count(flows: list[Flow], db_urls: dict[str, str], mail_dir: Path, supervisors: dict[str, str]) -> Tally:
    tally = Tally(flows=len(flows))
    copies = sink_copies(mail_dir)
    completed = Counter(
        client
        for (client,) in _rows(
            db_urls["scheduling"],
            select(Appointment.client_id).where(Appointment.status == AppointmentStatus.COMPLETED),
        )
    )
    answered = Counter(
        client
        for (client,) in _rows(
            db_urls["feedback"], select(Assignment.client_id).where(Assignment.completed_at.is_not(None))
        )
    )
    alerts = defaultdict(list)
    for alert_id, client, severity in _rows(db_urls["feedback"], select(Alert.id, Alert.client_id, Alert.severity)):
        alerts[client].append((alert_id, severity))
    deliveries = _rows(
        db_urls["notifications"],
        select(
            Delivery.id,
            Delivery.template,
            Delivery.recipient_id,
            Delivery.subject_id,
            Delivery.context,
            Delivery.status,
            Delivery.possible_duplicate,
        ),
    )
    invitations = defaultdict(list)
    notices = defaultdict(list)
    for row in deliveries:
        if row.template == "questionnaire_invitation":
            invitations[row.subject_id].append(row)
        elif row.template == "alert_notice":
            notices[(row.context or {}).get("alert_id")].append(row)

    def tick(check: Check, expected: int, rows: list, what: str) -> int:
        """Count ``rows`` (deliveries meant to be one each of ``expected``) against the sink; losses found. What
        reached the mail server counts, whatever the ledger says (a send the ledger could not confirm, then
        cancelled at the retry because the client had already answered, still reached the client)."""
        check.expected += expected
        delivered = [r for r in rows if copies[r.id] >= 1]
        tally.ledger_disagrees += sum(1 for r in delivered if r.status != DeliveryStatus.SENT)
        check.delivered += min(len(delivered), expected)
        lost = max(0, expected - len(delivered))
        check.lost += lost
        if lost:
            states = ", ".join(f"{r.id[:8]} {r.status}" for r in rows) or "no delivery in the ledger"
            tally.losses.append(f"{what}: {states}")
        check.duplicated += max(0, len(rows) - expected)  # two deliveries for one thing: never flagged
        for r in delivered:
            extra = copies[r.id] - 1
            if r.possible_duplicate:
                check.flagged += extra
            else:
                check.duplicated += extra
        return lost

    for flow in flows:
        if not flow.done:
            tally.unfinished.append(f"flow {flow.number} ({flow.kind}): {flow.error or 'not finished'}")
        client = flow.client_id
        if client is None:
            continue
        flow_lost = tick(
            tally.check("invitation per completed session"),
            completed[client],
            invitations[client],
            f"flow {flow.number} invitations",
        )
        found = alerts[client]
        # a risk answer alerts at once; a deterioration shows on the second questionnaire
        expected_alerts = int(answered[client] >= {"risk": 1, "deteriorating": 2}.get(flow.kind, 10**9))
        name = {"risk": "urgent alert per risk answer", "deteriorating": "alert per deterioration"}.get(
            flow.kind, "no alert for a steady client"
        )
        alert_check = tally.check(name)
        alert_check.expected += expected_alerts
        alert_check.delivered += min(len(found), expected_alerts)
        alert_check.lost += max(0, expected_alerts - len(found))
        if expected_alerts > len(found):
            tally.losses.append(f"flow {flow.number} ({flow.kind}): no alert")
        alert_check.duplicated += max(0, len(found) - expected_alerts)
        flow_lost += max(0, expected_alerts - len(found))
        for alert_id, severity in found[:expected_alerts]:
            rows = notices[alert_id]
            mine = [r for r in rows if r.recipient_id == flow.clinician_id]  # the therapist, by who got it
            flow_lost += tick(tally.check("alert notice to the therapist"), 1, mine, f"alert {alert_id[:8]} therapist")
            if severity == Severity.URGENT:
                sup = [r for r in rows if r.recipient_id == supervisors.get(flow.clinician_id)]
                oncall = [r for r in rows if r.recipient_id == "on-call"]
                for name, rows_for, who in (("supervisor", sup, "supervisor"), ("on-call", oncall, "on-call")):
                    check = tally.check(f"urgent notice to {'the ' if name == 'supervisor' else ''}{name}")
                    flow_lost += tick(check, 1, rows_for, f"alert {alert_id[:8]} {who}")
        flow.lost = flow_lost
    return tally
