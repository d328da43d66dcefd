"""Importing a practice from CSV through the ``import`` command: a dry run that writes nothing and finds every
error (the rejected-rows file says which and why), an apply that emits the same events as the desk, and a re-run
that creates nothing twice. On both databases."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.scheduling.models import Appointment, Client, Clinician, ConsentChange, ImportedRecord
from shared.messaging.tables import OutboxMessage
from tests.support.apps import make_scheduling
from tests.support.csv_files import LONDON, next_monday, write_csv


@pytest.fixture
def practice(db_url, tmp_path):
    made = make_scheduling(db_url)
    monday = next_monday()
    files = {
        "clinicians": write_csv(
            tmp_path / "clinicians.csv",
            [
                {
                    "external_id": "T1",
                    "name": "Dr Ada Okafor",
                    "email": "ada@p.example",
                    "working_hours": "mon-fri 09:00-17:00",
                    "supervisor": "T2",
                },
                {
                    "external_id": "T2",
                    "name": "Sam Lindqvist",
                    "email": "sam@p.example",
                    "working_hours": "mon,wed 09:00-12:00; fri 13:00-17:00",
                },
                {"external_id": "T3", "name": "No Email", "email": "not-an-email", "working_hours": ""},
            ],
        ),  # fmt: skip
        "clients": write_csv(
            tmp_path / "clients.csv",
            [
                {
                    "external_id": "C1",
                    "legal_name": "Jordan Avery",
                    "email": "jordan@example.org",
                    "consent_email": "yes",
                    "consent_given_on": "2025-03-02",
                    "consent_evidence": "intake form, signed",
                    "clinician": "ada@p.example",
                },
                {
                    "external_id": "C2",
                    "legal_name": "Morgan Blake",
                    "phone": "+44 7911 123456",
                    "preferred_channel": "sms",
                    "consent_sms": "yes",
                    "consent_evidence": "verbal, noted 2025-04-01",
                    "clinician": "T2",
                },
                {"external_id": "C3", "legal_name": "Riley Chen", "consent_email": "yes"},  # no email, no evidence
                {"external_id": "C1", "legal_name": "Jordan Avery again"},  # the same external id twice
                {"legal_name": "Casey Diaz", "date_of_birth": "1990-05-17", "clinician": "Nobody"},
            ],
        ),  # fmt: skip
        "appointments": write_csv(
            tmp_path / "appointments.csv",
            [
                {
                    "external_id": "A1",
                    "client": "C1",
                    "clinician": "T1",
                    "type": "individual",
                    "date": monday.date().isoformat(),
                    "time": "10:00",
                },
                {
                    "external_id": "A2",
                    "client": "C2",
                    "clinician": "T2",
                    "type": "Individual therapy",
                    "date": monday.date().isoformat(),
                    "time": "09:00",
                    "repeat": "weekly",
                    "count": "4",
                },
                {
                    "external_id": "A3",
                    "client": "C1",
                    "clinician": "T1",
                    "type": "individual",
                    "date": monday.date().isoformat(),
                    "time": "10:30",
                },  # overlaps A1 (50 minutes)
                {
                    "external_id": "A4",
                    "client": "C1",
                    "clinician": "T1",
                    "type": "individual",
                    "date": "2020-01-06",
                    "time": "10:00",
                },  # past
                {
                    "external_id": "A5",
                    "client": "C9",
                    "clinician": "T1",
                    "type": "massage",
                    "date": monday.date().isoformat(),
                    "time": "14:00",
                },
            ],
        ),  # fmt: skip
    }
    yield made, files, tmp_path
    made.close()


def run(made, files, tmp_path, *extra):
    runner = made.app.test_cli_runner()
    args = ["import", "--rejects", str(tmp_path / "rejects")]
    for kind, path in files.items():
        args += [f"--{kind}", path]
    result = runner.invoke(args=[*args, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def counts(made) -> dict:
    with made.runtime.sessions() as s:
        return {
            "clinicians": s.scalar(select(func.count()).select_from(Clinician)),
            "clients": s.scalar(select(func.count()).select_from(Client)),
            "appointments": s.scalar(select(func.count()).select_from(Appointment)),
            "records": s.scalar(select(func.count()).select_from(ImportedRecord)),
            "outbox": s.scalar(select(func.count()).select_from(OutboxMessage)),
        }


def rejects(tmp_path, kind) -> list[dict]:
    return list(csv.DictReader(io.StringIO((tmp_path / "rejects" / f"{kind}-rejected.csv").read_text())))


def test_dry_run_writes_nothing_and_lists_every_rejected_row_with_its_reason(practice):
    made, files, tmp_path = practice
    before = counts(made)
    out = run(made, files, tmp_path)
    assert "dry run: nothing was written" in out
    assert counts(made) == before
    assert "clinicians    2 created, 1 rejected" in out
    assert "appointments  2 created, 3 rejected, 5 appointments booked" in out
    by_line = {int(r["line"]): r for r in rejects(tmp_path, "clinicians")}
    assert list(by_line) == [4] and "email: Not a valid email address." in by_line[4]["reason"]
    assert by_line[4]["name"] == "No Email"  # the row as it came, to fix and re-import
    clients = {int(r["line"]): r["reason"] for r in rejects(tmp_path, "clients")}
    assert set(clients) == {4, 5, 6}
    assert "consent_email: Consent to email needs an email address." in clients[4]
    assert "same record as line 2" in clients[5]
    assert "clinician: No such clinician" in clients[6]
    appointments = {int(r["line"]): r["reason"] for r in rejects(tmp_path, "appointments")}
    assert set(appointments) == {4, 5, 6}
    assert "overlaps another appointment" in appointments[4]  # A1, booked earlier in the same dry run
    assert "In the past" in appointments[5]
    assert "No client with this external id" in appointments[6] and "No appointment type 'massage'" in appointments[6]


def test_apply_emits_the_desks_events_quietly_and_a_rerun_creates_nothing_twice(practice):
    made, files, tmp_path = practice
    run(made, files, tmp_path, "--apply")
    after = counts(made)
    assert after["clinicians"] == 2 and after["clients"] == 2 and after["appointments"] == 1 + 4
    with made.runtime.sessions() as s:
        ada = s.scalar(select(Clinician).where(Clinician.email == "ada@p.example"))
        sam = s.scalar(select(Clinician).where(Clinician.email == "sam@p.example"))
        assert ada.supervisor_id == sam.id  # listed before their supervisor: linked after every clinician
        jordan = s.scalar(select(Client).where(Client.legal_name == "Jordan Avery"))
        assert jordan.consent_email and jordan.consent_email_at.date().isoformat() == "2025-03-02"
        trail = s.scalars(select(ConsentChange).where(ConsentChange.client_id == jordan.id)).all()
        assert [(t.how, t.reason) for t in trail] == [("imported", "intake form, signed")]
        morgan = s.scalar(select(Client).where(Client.legal_name == "Morgan Blake"))
        assert morgan.phone == "+447911123456" and morgan.consent_sms
        types = [(m.event_type.split(".", 2)[2], json.loads(m.payload)["data"]) for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic.not_like("%directory%")).order_by(OutboxMessage.id)
        )]  # fmt: skip
    kinds = [name for name, _ in types]
    assert kinds.count("client.registered") == 2 and kinds.count("appointment.booked") == 5
    assert kinds.count("clinician.registered") == 2 and kinds.count("clinician.updated") == 1
    assert all(data["announce"] is False for name, data in types if name == "appointment.booked")
    first = counts(made)
    out = run(made, files, tmp_path, "--apply")
    assert counts(made) == first  # nothing twice, not even an event
    assert "2 already imported" in out and "written" in out


def test_simplepractice_columns_and_us_dates_are_read_through_the_mapping(db_url, tmp_path):
    made = make_scheduling(db_url)
    try:
        monday = next_monday()
        files = {
            "clinicians": write_csv(tmp_path / "staff.csv", [
                {"First Name": "Ada", "Last Name": "Okafor", "Email": "ada@p.example"},
            ]),
            "clients": write_csv(tmp_path / "clients.csv", [
                {"Client ID": "778", "First Name": "Jordan", "Last Name": "Avery", "Date of Birth": "05/17/1990",
                 "Email": "j@example.org", "Email OK": "Yes", "Consent Source": "portal", "Primary Clinician":
                 "Ada Okafor"},
            ]),
            "appointments": write_csv(tmp_path / "appts.csv", [
                {"Appointment ID": "9001", "Client ID": "778", "Clinician": "Ada Okafor",
                 "Date": monday.strftime("%m/%d/%Y"), "Start Time": "02:30 PM", "Duration": "50",
                 "Service": "individual", "Location Type": "Video Office"},
            ]),
        }  # fmt: skip
        with made.runtime.sessions() as s, s.begin():
            from services.scheduling import directory

            c = directory.register_clinician(s, {"name": "Ada Okafor", "email": "ADA@p.example"})
            c.working_hours = {"mon": [["08:00", "18:00"]]}
        out = run(made, files, tmp_path, "--mapping", "simplepractice", "--apply")
        assert "1 already imported" in out  # the clinician entered by hand is matched by email, not doubled
        with made.runtime.sessions() as s:
            jordan = s.scalar(select(Client).where(Client.legal_name == "Jordan Avery"))
            assert jordan.date_of_birth.isoformat() == "1990-05-17" and jordan.clinician_id == c.id
            appt = s.scalar(select(Appointment))
            assert appt.modality == "telehealth"
            assert appt.starts_at.astimezone(LONDON).strftime("%H:%M") == "14:30"
            assert (appt.ends_at - appt.starts_at) == timedelta(minutes=50)
    finally:
        made.close()


def test_the_import_benchmark_runs_in_small(capsys):
    """``bench/import_scale.py`` (the 10,000-client figure in docs/performance.md), at 60 clients: the one
    command, a dry run that writes nothing, an apply with every client and appointment, a re-run with none."""
    from bench import import_scale

    assert import_scale.main(["--clients", "60", "--no-write"]) == 0
    assert "'clients': 60, 'appointments': 300" in capsys.readouterr().out
