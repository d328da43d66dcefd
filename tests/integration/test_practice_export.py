"""Handing data back: a practice imported from CSV, its events carried to feedback and notifications by their
own handlers, questionnaires answered, then ``attune export``. The export holds every imported record, every
answer and score, validates as FHIR R4 (fhir.resources), round-trips its CSV files, can be imported again
into an empty practice, and is written to each service's audit trail. On both databases."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select

from deploy.ops import export as ops_export
from services.scheduling.models import Appointment, Client, Clinician
from shared.db import transaction
from shared.events import catalog
from shared.events.envelope import Event
from shared.messaging.tables import AuditRecord, OutboxMessage
from tests.support.apps import make_app, make_scheduling
from tests.support.csv_files import next_monday, write_csv
from tests.support.feedback_data import client_with_scores

CLIENTS = 12


def import_practice(made, tmp_path) -> None:
    monday = next_monday()
    clinicians = [{"external_id": f"T{t}", "name": f"Clinician {t}", "email": f"t{t}@p.example",
                   "working_hours": "mon-fri 08:00-18:00"} for t in range(3)]  # fmt: skip
    clients = [{"external_id": f"K{k}", "legal_name": f"Client {k} Example", "date_of_birth": f"19{70 + k}-02-01",
                "email": f"k{k}@example.org", "consent_email": "yes", "consent_given_on": "2025-06-01",
                "consent_evidence": "intake form", "clinician": f"T{k % 3}"} for k in range(CLIENTS)]  # fmt: skip
    appointments = [{"external_id": f"A{k}", "client": f"K{k}", "clinician": f"T{k % 3}", "type": "individual",
                     "date": (monday + timedelta(days=k % 5)).date().isoformat(), "time": f"{9 + k // 3}:00",
                     "repeat": "weekly" if k % 2 else "", "count": "3" if k % 2 else ""}
                    for k in range(CLIENTS)]  # fmt: skip
    args = ["import", "--apply", "--rejects", str(tmp_path / "rejects")]
    for kind, rows in (("clinicians", clinicians), ("clients", clients), ("appointments", appointments)):
        args += [f"--{kind}", write_csv(tmp_path / f"{kind}.csv", rows)]
    result = made.app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0 and "rejected" not in result.output, result.output


def carry_events(scheduling, services) -> None:
    """Hand scheduling's outbox, in order, to each service's own handlers, as their consumers would."""
    with scheduling.runtime.sessions() as s:
        rows = s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == catalog.topic_for("scheduling"))
            .order_by(OutboxMessage.id)
        ).all()
    for row in rows:
        event = Event.from_json(row.payload)
        spec = catalog.spec_for(event)
        event = event.with_data(spec.load_incoming(event.data))
        for made in services:
            if spec in made.wiring.handlers:
                with transaction(made.runtime.sessions) as session:
                    made.wiring.handlers[spec](session, event)


@pytest.fixture
def practice(new_database, tmp_path):
    scheduling = make_scheduling(new_database("scheduling"))
    feedback = make_app("feedback", new_database("feedback"))
    notifications = make_app("notifications", new_database("notifications"))
    import_practice(scheduling, tmp_path)
    carry_events(scheduling, [feedback, notifications])
    with scheduling.runtime.sessions() as s:
        first = s.scalars(select(Client).order_by(Client.legal_name)).all()[:3]
    for n, client in enumerate(first):
        client_with_scores(
            feedback.runtime, client.id, client.clinician_id, [14, 12, 9 + n], risk_at=2 if n == 0 else None
        )
    settings = {m.name: m.settings for m in (scheduling, feedback, notifications)}
    yield scheduling, feedback, notifications, settings, [c.id for c in first]
    for made in (scheduling, feedback, notifications):
        made.close()


def test_a_practice_export_holds_every_imported_record_and_validates(practice, tmp_path):
    scheduling, feedback, notifications, settings, answered = practice
    dest = tmp_path / "practice.zip"
    done = ops_export.export(settings, dest, by="dpo@practice.example", progress=False)
    assert done["clients"] == CLIENTS
    tables = ops_export.read_tables(dest)
    with scheduling.runtime.sessions() as s:
        clients = {c.id: c for c in s.scalars(select(Client))}
        appointments = {a.id for a in s.scalars(select(Appointment))}
        clinicians = {c.id for c in s.scalars(select(Clinician))}
    exported = {row["client_id"]: row for row in tables["scheduling_client"]}
    assert set(exported) == set(clients)
    for cid, c in clients.items():
        row = exported[cid]
        assert (row["legal_name"], row["date_of_birth"], row["email"]) == (
            c.legal_name,
            c.date_of_birth.isoformat(),
            c.email,
        )
        assert row["external_ids"].startswith("attune:K")
    assert {r["appointment_id"] for r in tables["scheduling_appointments"]} == appointments
    assert len(appointments) == CLIENTS // 2 + 3 * (CLIENTS // 2)  # single rows and weekly series of three
    assert {r["how"] for r in tables["scheduling_consent"]} == {"imported"}
    scored = [r for r in tables["feedback_scores"] if r["measure"] == "phq9"]
    assert len(scored) == 9 and {r["client_id"] for r in scored} == set(answered)
    assert len(tables["feedback_answers"]) == 9 * 10  # nine items and the difficulty question, per questionnaire
    assert [r["rule"] for r in tables["feedback_alerts"]].count("risk_item") == 1
    assert {r["template"] for r in tables["notifications_messages"]} >= {"appointment_reminder"}
    assert all("@" not in json.dumps(r) for r in tables["notifications_messages"])  # metadata only: no address
    with zipfile.ZipFile(dest) as zf:
        bundles = {name: json.loads(zf.read(name)) for name in zf.namelist() if name.startswith("fhir/")}
    assert len(bundles) == CLIENTS
    kinds: dict[str, int] = {}
    practitioners = set()
    for bundle in bundles.values():
        Bundle.model_validate(bundle)  # each resource validated by its own model too
        for entry in bundle["entry"]:
            kinds[entry["resource"]["resourceType"]] = kinds.get(entry["resource"]["resourceType"], 0) + 1
            if entry["resource"]["resourceType"] == "Practitioner":
                practitioners.add(entry["resource"]["id"])
    assert kinds == {"Patient": CLIENTS, "Practitioner": CLIENTS, "Appointment": len(appointments),
                     "QuestionnaireResponse": 9, "Observation": 9}  # fmt: skip
    assert practitioners == clinicians
    for made in (scheduling, feedback, notifications):
        with made.runtime.sessions() as s:
            record = s.scalar(select(AuditRecord).where(AuditRecord.action.like("EXPORT%")))
            assert (record.subject, record.action, record.client_id) == (
                "dpo@practice.example", f"EXPORT practice ({CLIENTS})", None)  # fmt: skip


def test_one_clients_export_and_its_csv_files_round_trip_into_a_new_practice(practice, tmp_path, new_database):
    scheduling, feedback, notifications, settings, answered = practice
    dest = tmp_path / "client.zip"
    ops_export.export(settings, dest, [answered[0]], by="front desk", progress=False)
    tables = ops_export.read_tables(dest)
    job = ops_export.Export(settings)
    try:
        direct = job.tables(answered[0])
    finally:
        job.close()
    as_text = {name: [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]
               for name, rows in direct.items() if rows}  # fmt: skip
    assert tables == as_text  # every value back as written
    assert {r["client_id"] for rows in tables.values() for r in rows} == {answered[0]}
    with pytest.raises(LookupError):
        ops_export.export(settings, tmp_path / "nobody.zip", ["no-such-client"], progress=False)
    # the exported client file imports into an empty practice through a mapping of its columns
    mapping = tmp_path / "from-attune-export.json"
    evidence = "exported from Attune; consent {consent_email_at}"
    mapping.write_text(
        json.dumps({"clients": {"external_id": "client_id", "clinician": "", "consent_evidence": evidence}})
    )
    with zipfile.ZipFile(dest) as zf:
        (tmp_path / "client.csv").write_bytes(zf.read("scheduling_client.csv"))
    fresh = make_scheduling(new_database("again"))
    try:
        result = fresh.app.test_cli_runner().invoke(
            args=["import", "--apply", "--mapping", str(mapping), "--clients", str(tmp_path / "client.csv"),
                  "--rejects", str(tmp_path / "r")]
        )  # fmt: skip
        assert result.exit_code == 0 and "1 created" in result.output, result.output
        with fresh.runtime.sessions() as s:
            again = s.scalar(select(Client))
            assert s.scalar(select(func.count()).select_from(Client)) == 1
        original = tables["scheduling_client"][0]
        assert (again.legal_name, again.date_of_birth.isoformat(), again.email, again.consent_email) == (
            original["legal_name"], original["date_of_birth"], original["email"], True)  # fmt: skip
    finally:
        fresh.close()
