"""``flask --app services.scheduling <command>``: practice set-up and demo data."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from services.scheduling import appointments as appts
from services.scheduling import directory
from services.scheduling.booking import RuleViolation
from services.scheduling.models import AppointmentType, Clinician, Room
from shared.db import transaction, utcnow
from shared.web import runtime_of

DEFAULT_TYPES = [
    ("intake", "Intake assessment", 60, "in_person"),
    ("individual", "Individual therapy", 50, "in_person"),
    ("telehealth", "Individual therapy (video)", 50, "telehealth"),
    ("couples", "Couples therapy", 80, "in_person"),
    ("family", "Family therapy", 80, "in_person"),
    ("group", "Group therapy", 90, "in_person"),
]
WEEKDAY_HOURS = {d: [["09:00", "12:30"], ["13:30", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
DEMO_CLINICIANS = [
    ("Dr Ada Okafor", "ada.okafor@practice.example"),
    ("Sam Lindqvist", "sam.lindqvist@practice.example"),
    ("Priya Raman", "priya.raman@practice.example"),
]
DEMO_CLIENTS = [
    ("Jordan Avery", "Jordan"),
    ("Morgan Blake", "Mo"),
    ("Riley Chen", "Riley"),
    ("Casey Diaz", "Casey"),
    ("Taylor Evans", "Tay"),
    ("Alex Fischer", "Alex"),
    ("Jamie Garcia", "Jamie"),
    ("Robin Hughes", "Robin"),
]


def create_practice(session) -> None:
    for type_id, name, minutes, modality in DEFAULT_TYPES:
        if session.get(AppointmentType, type_id) is None:
            session.add(
                AppointmentType(
                    id=type_id, name=name, minutes=minutes, modality=modality, counts_as_session=type_id != "group"
                )
            )
    for name in ("Room 1", "Room 2", "Garden room"):
        if session.scalar(select(Room).where(Room.name == name)) is None:
            session.add(Room(name=name))
    session.flush()


def seed_demo(session, link_key: str, timezone: str = "Europe/London", mail_domain: str = "example.org") -> dict:
    """A small practice with this week's calendar filled in; returns the ids a walkthrough needs."""
    create_practice(session)
    clinicians = []
    for name, email in DEMO_CLINICIANS:
        existing = session.scalar(select(Clinician).where(Clinician.email == email))
        clinicians.append(
            existing
            or directory.register_clinician(
                session, {"name": name, "email": email, "timezone": timezone, "working_hours": WEEKDAY_HOURS}
            )
        )
    supervisor = clinicians[1]  # Sam supervises Ada and Priya (the demo's supervisor account is Sam)
    for clinician in (clinicians[0], clinicians[2]):
        if clinician.supervisor_id != supervisor.id:
            directory.update_clinician(session, clinician, {"supervisor_id": supervisor.id})
    now = utcnow()
    clients = []
    for i, (legal, preferred) in enumerate(DEMO_CLIENTS):
        clients.append(
            directory.register_client(
                session,
                {
                    "legal_name": legal,
                    "preferred_name": preferred,
                    "email": f"{preferred.lower()}.{i}@{mail_domain}",
                    "timezone": timezone,
                    "consent_email": True,
                    "clinician_id": clinicians[i % len(clinicians)].id,
                },
                now,
            )
        )
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    booked = 0
    for day in range(5):
        for slot, client in enumerate(clients):
            start = datetime.combine(monday + timedelta(days=day), time(9 + slot % 3 * 2 + (slot // 3), 0), tz)
            try:
                appts.book(
                    session,
                    appts.BookingRequest(
                        client_id=client.id,
                        clinician_id=client.clinician_id,
                        type_id="intake" if day == 0 else "individual",
                        starts_at=start,
                    ),
                    now,
                    by="demo",
                    link_key=link_key,
                )
                booked += 1
            except RuleViolation:
                continue
    return {"clinicians": [c.id for c in clinicians], "clients": [c.id for c in clients], "appointments": booked}


def parse_hours(spec: str) -> dict:
    """``"mon-fri 09:00-12:30,13:30-18:00"`` -> the working-hours mapping (days as a range or a comma list)."""
    from services.scheduling.booking import WEEKDAYS

    days_part, _, blocks_part = spec.strip().partition(" ")
    if "-" in days_part:
        first, last = days_part.split("-")
        days = WEEKDAYS[WEEKDAYS.index(first) : WEEKDAYS.index(last) + 1]
    else:
        days = tuple(days_part.split(","))
    blocks = [block.split("-") for block in blocks_part.split(",") if block]
    return {day: blocks for day in days}


def register(app) -> None:
    @app.cli.command("invite-staff")
    @click.option("--email", required=True)
    @click.option("--role", type=click.Choice(["frontdesk", "clinician", "supervisor", "admin"]), required=True)
    @click.option("--clinician-id", default=None, help="the clinician in scheduling (required for clinicians)")
    def invite_staff_cmd(email, role, clinician_id):
        """Create a staff account at the identity provider and email the invitation."""
        from shared.staff_accounts import AccountError, StaffAccounts

        if role == "clinician" and not clinician_id:
            raise click.UsageError("a clinician account needs --clinician-id (see GET /api/clinicians)")
        if clinician_id:
            with runtime_of(app).sessions() as session:
                if session.get(Clinician, clinician_id) is None:
                    raise click.UsageError(f"no clinician {clinician_id} in scheduling")
        try:
            StaffAccounts.from_settings(runtime_of(app).settings).invite(email, role, clinician_id)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"invited {email} as {role}: the invitation is on its way")

    @app.cli.command("create-practice")
    def create_practice_cmd():
        """Create the default appointment types and rooms."""
        with transaction(runtime_of(app).sessions) as session:
            create_practice(session)
        click.echo("practice created")

    @app.cli.command("add-clinician")
    @click.option("--name", required=True)
    @click.option("--email", required=True)
    @click.option("--timezone", default="Europe/London")
    @click.option(
        "--hours",
        default="mon-fri 09:00-17:00",
        show_default=True,
        help='Working hours, e.g. "mon-fri 09:00-12:30,13:30-18:00"',
    )
    def add_clinician_cmd(name, email, timezone, hours):
        """Register a clinician with weekly working hours."""
        with transaction(runtime_of(app).sessions) as session:
            clinician = directory.register_clinician(
                session, {"name": name, "email": email, "timezone": timezone, "working_hours": parse_hours(hours)}
            )
        click.echo(clinician.id)

    @app.cli.command("seed-demo")
    @click.option("--timezone", default="Europe/London")
    def seed_demo_cmd(timezone):
        """Fill a demo practice: three clinicians, eight clients, this week's appointments."""
        with transaction(runtime_of(app).sessions) as session:
            result = seed_demo(session, runtime_of(app).settings.link_key, timezone)
        click.echo(
            f"{len(result['clinicians'])} clinicians, {len(result['clients'])} clients, "
            f"{result['appointments']} appointments"
        )

    @app.cli.command("import")
    @click.option("--clinicians", type=click.Path(exists=True, dir_okay=False), help="CSV of clinicians")
    @click.option("--clients", type=click.Path(exists=True, dir_okay=False), help="CSV of clients")
    @click.option("--appointments", type=click.Path(exists=True, dir_okay=False), help="CSV of future appointments")
    @click.option("--mapping", default="attune", show_default=True,
                  help="the columns' source: attune, simplepractice, or a mapping .json file")  # fmt: skip
    @click.option("--apply", "apply_", is_flag=True, help="write the import (without it: a dry run, nothing written)")
    @click.option("--announce", is_flag=True, help="send clients a confirmation of each imported appointment")
    @click.option("--rejects", default="import-rejects", show_default=True, type=click.Path(file_okay=False),
                  help="folder for the rejected rows, one CSV per file, with the reasons")  # fmt: skip
    @click.option("--by", default="import", show_default=True, help="who to record as having made the records")
    def import_cmd(clinicians, clients, appointments, mapping, apply_, announce, rejects, by):
        """Import clinicians, clients and future appointments from CSV: a dry run unless --apply; re-running a
        file creates nothing twice."""
        import_files(
            app,
            {"clinicians": clinicians, "clients": clients, "appointments": appointments},
            mapping_name=mapping,
            apply=apply_,
            announce=announce,
            rejects_dir=rejects,
            by=by,
        )


def import_files(app, paths: dict, *, mapping_name: str, apply: bool, announce: bool, rejects_dir: str, by: str):
    """The ``import`` command's work: read, run with a progress bar, print the counts, write the rejects."""
    from pathlib import Path

    from tqdm import tqdm

    from services.scheduling.import_mapping import Mapping as ColumnMapping
    from services.scheduling.import_mapping import MappingError, read_csv
    from services.scheduling.importer import Importer

    try:
        mapping = ColumnMapping.load(mapping_name)
    except MappingError as exc:
        raise click.UsageError(str(exc)) from exc
    files = {kind: read_csv(Path(path).read_bytes())[1] for kind, path in paths.items() if path}
    if not files:
        raise click.UsageError("give at least one of --clinicians, --clients, --appointments")
    runtime = runtime_of(app)
    total = sum(len(rows) for rows in files.values())
    with runtime.sessions() as session, tqdm(total=total, unit="row", desc="import" if apply else "dry run") as bar:
        importer = Importer(session, mapping, now=utcnow(), by=by, link_key=runtime.settings.link_key,
                            announce=announce, dry_run=not apply)  # fmt: skip
        try:
            report = importer.run(files, progress=bar.update)
        finally:
            if not apply:
                session.rollback()
    for kind, counts in report.counts().items():
        if kind in files:
            click.echo(f"{kind:13} " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    folder = Path(rejects_dir)
    for kind in files:
        if report.rejected(kind):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{kind}-rejected.csv").write_text(report.rejects_csv(kind))
            click.echo(f"rejected {kind}: {folder / f'{kind}-rejected.csv'}")
    click.echo("written" if apply else "dry run: nothing was written (run again with --apply)")
    return report
