"""Importing a practice from CSV files: clinicians, then clients, then future appointments (series too).

Every row goes through the API's own marshmallow schemas and the same domain functions as a booking at the
desk, so it emits the same events (feedback and notifications learn of it as if typed in); bookings are marked
``announce: false`` unless asked, so no confirmation flood reaches clients (their reminders still go).

Each row runs in a savepoint: a rejected row leaves nothing behind and the others carry on. A dry run is the
real import in one transaction that is rolled back at the end: it finds every error the real run would,
conflicts with bookings made earlier in the same file included. A real run commits every ``batch`` rows. An
``imported_records`` row per entity (the file's external id, or a natural key) makes re-running a file create
nothing twice.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.scheduling import appointments as appts
from services.scheduling import directory, series
from services.scheduling import schemas as s
from services.scheduling.import_mapping import COLUMNS, KINDS, CellError, Mapping, modality, parse_working_hours
from services.scheduling.models import AppointmentType, Client, Clinician, ImportedRecord, Room
from services.scheduling.recurrence import RecurrenceError, Rule
from shared.errors import DomainError

CREATED, EXISTING, REJECTED = "created", "already imported", "rejected"
SINGULAR = {"clinicians": "clinician", "clients": "client", "appointments": "appointment"}


@dataclass
class RowOutcome:
    kind: str
    line: int  # the line in the file (the header is line 1)
    status: str
    raw: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)
    entity_id: str | None = None
    appointments: int = 0  # bookings this row made (a series makes several)

    @property
    def reason(self) -> str:
        return "; ".join(f"{column}: {' '.join(messages)}" for column, messages in sorted(self.errors.items()))


@dataclass
class ImportReport:
    dry_run: bool
    mapping: str
    outcomes: list[RowOutcome] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        out = {kind: Counter() for kind in KINDS}
        for o in self.outcomes:
            out[o.kind][o.status] += 1
            out[o.kind]["appointments booked"] += o.appointments
        order = (CREATED, EXISTING, REJECTED, "appointments booked")
        return {kind: {k: c[k] for k in order if c[k]} for kind, c in out.items()}

    def rejected(self, kind: str | None = None) -> list[RowOutcome]:
        return [o for o in self.outcomes if o.status == REJECTED and (kind is None or o.kind == kind)]

    def rejects_csv(self, kind: str) -> str:
        """The rejected rows of one file as they came, with their line and the reasons: fix and re-import."""
        rows = self.rejected(kind)
        headers = list(dict.fromkeys(h for o in rows for h in o.raw))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["line", "reason", *headers])
        for o in rows:
            writer.writerow([o.line, o.reason, *(o.raw.get(h, "") for h in headers)])
        return buffer.getvalue()

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "mapping": self.mapping,
            "counts": self.counts(),
            "rejected": [{"kind": o.kind, "line": o.line, "errors": o.errors} for o in self.rejected()],
        }


class _Rejected(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("rejected")
        self.errors = errors


def _reject(column: str, message: str) -> _Rejected:
    return _Rejected({column: [message]})


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    raw = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    out = {}
    for key, value in raw.items():
        if isinstance(value, dict):  # nested (a series rule)
            for inner, msgs in value.items():
                out[inner] = [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
        else:
            out["row" if key == "_schema" else key] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return out


class Importer:
    def __init__(
        self,
        session: Session,
        mapping: Mapping,
        *,
        now: datetime,
        by: str,
        link_key: str,
        announce: bool = False,
        batch: int = 500,
        dry_run: bool = True,
    ):
        self.session, self.mapping, self.now, self.by = session, mapping, now, by
        self.link_key, self.announce, self.batch = link_key, announce, batch
        self.report = ImportReport(dry_run=dry_run, mapping=mapping.name)
        self._seen: dict[tuple[str, str], int] = {}
        self._pending_supervisors: list[tuple[RowOutcome, str]] = []
        self._since_commit = 0
        self._types = {t.id: t for t in session.scalars(select(AppointmentType))}
        self._rooms = {r.name.lower(): r.id for r in session.scalars(select(Room))}

    # -- running -------------------------------------------------------------------------------------------

    def run(self, files: dict[str, list[dict[str, str]]], progress: Callable[[int], None] | None = None):
        """``files``: kind -> rows (header -> cell). Kinds run in dependency order; ``progress(n)`` after each
        row. Commits as it goes unless a dry run; the caller rolls a dry run back."""
        steps = {"clinicians": self._clinician, "clients": self._client, "appointments": self._appointment}
        for kind in KINDS:
            for number, raw in enumerate(files.get(kind) or [], start=2):
                self._row(kind, number, raw, steps[kind])
                if progress:
                    progress(1)
            if kind == "clinicians":
                self._link_supervisors()
        if not self.report.dry_run:
            self.session.commit()
        return self.report

    def _row(self, kind: str, line: int, raw: dict[str, str], step) -> None:
        outcome = RowOutcome(kind, line, REJECTED, raw)
        try:
            row = self.mapping.translate(kind, raw)
            with self.session.begin_nested():
                step(row, outcome)
        except _Rejected as exc:
            outcome.status, outcome.errors = REJECTED, exc.errors
        except CellError as exc:
            outcome.status, outcome.errors = REJECTED, {exc.column: [str(exc)]}
        except ValidationError as exc:
            outcome.status, outcome.errors = REJECTED, _messages(exc)
        except (DomainError, RecurrenceError) as exc:
            outcome.status, outcome.errors = REJECTED, {"row": [str(exc)]}
        except ValueError as exc:  # a cell no schema saw (a malformed time handed to arithmetic)
            outcome.status, outcome.errors = REJECTED, {"row": [f"Could not read this row: {exc}"]}
        self.report.outcomes.append(outcome)
        self._since_commit += 1
        if not self.report.dry_run and self._since_commit >= self.batch:
            self.session.commit()
            self._since_commit = 0

    def _claim(self, kind: str, key: str, line: int, outcome: RowOutcome) -> bool:
        """False when this key was imported before (outcome says so); rejects a key seen earlier in the file."""
        seen = self._seen.get((kind, key.lower()))
        if seen is not None:
            raise _reject("external_id", f"The same record as line {seen}: each row must be a different one.")
        held = self.session.get(ImportedRecord, (SINGULAR[kind], key))
        if held is not None:
            outcome.status, outcome.entity_id = EXISTING, held.entity_id
            return False
        return True

    def _record(self, kind: str, key: str, entity_id: str, outcome: RowOutcome) -> None:
        self.session.add(
            ImportedRecord(
                kind=SINGULAR[kind],
                external_id=key,
                entity_id=entity_id,
                source=self.mapping.name,
                imported_at=self.now,
                by=self.by,
            )
        )
        outcome.status, outcome.entity_id = CREATED, entity_id
        self._seen[(kind, key.lower())] = outcome.line

    # -- references ----------------------------------------------------------------------------------------

    def _imported(self, kind: str, key: str) -> str | None:
        held = self.session.get(ImportedRecord, (kind, key))
        return held.entity_id if held else None

    def _clinician_ref(self, value: str, column: str) -> str:
        """A clinician by the file's external id, email, Attune id, or full name (one match)."""
        found = self._imported("clinician", value) or self.session.scalar(
            select(Clinician.id).where(func.lower(Clinician.email) == value.lower())
        )
        if found is None and self.session.get(Clinician, value) is not None:
            found = value
        if found is None:
            named = self.session.scalars(select(Clinician.id).where(func.lower(Clinician.name) == value.lower())).all()
            if len(named) > 1:
                raise _reject(column, f"{len(named)} clinicians are called {value!r}: use their email.")
            found = named[0] if named else None
        if found is None:
            raise _reject(column, "No such clinician (by external id, email or name) in Attune or this import.")
        return found

    def _client_ref(self, value: str) -> str:
        found = self._imported("client", value)
        if found is None and self.session.get(Client, value) is not None:
            found = value
        if found is None:
            raise _reject("client", "No client with this external id in this import or an earlier one.")
        return found

    # -- kinds ---------------------------------------------------------------------------------------------

    def _clinician(self, row: dict[str, str], outcome: RowOutcome) -> None:
        data = {k: row[k] for k in ("name", "email", "timezone", "accepting_new_clients") if k in row}
        if "working_hours" in row:
            data["working_hours"] = parse_working_hours(row["working_hours"])
        loaded = s.ClinicianIn().load(data)
        key = row.get("external_id") or f"email:{loaded['email'].lower()}"
        if not self._claim("clinicians", key, outcome.line, outcome):
            return
        existing = self.session.scalar(select(Clinician).where(func.lower(Clinician.email) == loaded["email"].lower()))
        if existing is not None:  # entered by hand before the import: link the row to them
            self._record("clinicians", key, existing.id, outcome)
            outcome.status = EXISTING
            return
        clinician = directory.register_clinician(self.session, loaded)
        self._record("clinicians", key, clinician.id, outcome)
        if row.get("supervisor"):
            self._pending_supervisors.append((outcome, row["supervisor"]))

    def _link_supervisors(self) -> None:
        """Supervisors may be listed after their supervisees: linked once every clinician row has run."""
        for outcome, reference in self._pending_supervisors:
            try:
                with self.session.begin_nested():
                    supervisor = self._clinician_ref(reference, "supervisor")
                    clinician = self.session.get(Clinician, outcome.entity_id)
                    directory.update_clinician(self.session, clinician, {"supervisor_id": supervisor})
            except (_Rejected, DomainError) as exc:
                outcome.errors = exc.errors if isinstance(exc, _Rejected) else {"supervisor": [str(exc)]}
                outcome.errors = {k: [*v, "(the clinician was imported without a supervisor)"]
                                  for k, v in outcome.errors.items()}  # fmt: skip

    def _client(self, row: dict[str, str], outcome: RowOutcome) -> None:
        fields = ("legal_name", "preferred_name", "date_of_birth", "email", "phone", "preferred_channel", "timezone",
                  "consent_email", "consent_sms")  # fmt: skip
        data = {k: row[k] for k in fields if k in row}
        errors: dict[str, list[str]] = {}
        if row.get("clinician"):
            try:
                data["clinician_id"] = self._clinician_ref(row["clinician"], "clinician")
            except _Rejected as exc:
                errors.update(exc.errors)
        try:
            loaded = s.ClientIn().load(data)
        except ValidationError as exc:
            raise _Rejected({**errors, **_messages(exc)}) from None
        if errors:
            raise _Rejected(errors)
        evidence = row.get("consent_evidence")
        consenting = loaded["consent_email"] or loaded["consent_sms"]
        if consenting and not evidence:
            raise _reject("consent_evidence", "Say where the client's consent is held (e.g. 'intake form, signed').")
        given = None
        if row.get("consent_given_on"):
            given = datetime.combine(datetime.fromisoformat(row["consent_given_on"]).date(), time(12), UTC)
            if given > self.now:
                raise _reject("consent_given_on", "Consent cannot be given in the future.")
        key = row.get("external_id")
        if not key:
            if not loaded.get("date_of_birth"):
                raise _reject("external_id", "Needed (or a date of birth) so that a re-run knows this client.")
            key = f"name-dob:{' '.join(loaded['legal_name'].lower().split())}:{loaded['date_of_birth'].isoformat()}"
        if not self._claim("clients", key, outcome.line, outcome):
            return
        client = directory.register_client(
            self.session,
            loaded,
            self.now,
            self.by,
            consent_at=given if consenting else None,
            how="imported",
            evidence=evidence[:300] if consenting and evidence else None,
        )
        self._record("clients", key, client.id, outcome)

    def _appointment(self, row: dict[str, str], outcome: RowOutcome) -> None:
        errors: dict[str, list[str]] = {}
        data: dict = {}
        for column, resolve in (("client", self._client_ref), ("clinician", None)):
            if not row.get(column):
                errors[column] = ["Missing data for required field."]
                continue
            try:
                data[f"{column}_id"] = resolve(row[column]) if resolve else self._clinician_ref(row[column], column)
            except _Rejected as exc:
                errors.update(exc.errors)
        type_id = self._type(row.get("type"), errors)
        if type_id:
            data["type_id"] = type_id
        if errors:
            raise _Rejected(errors)
        clinician = self.session.get(Clinician, data["clinician_id"])
        starts = self._starts_at(row, clinician)
        data["starts_at"] = starts
        if row.get("ends_at"):
            data["ends_at"] = row["ends_at"]
        elif row.get("minutes"):
            try:
                minutes = int(float(row["minutes"]))
            except ValueError:
                raise _reject("minutes", "Not a number of minutes.") from None
            data["ends_at"] = (datetime.fromisoformat(starts) + timedelta(minutes=minutes)).isoformat()
        if row.get("room"):
            room = self._rooms.get(row["room"].lower())
            if room is None:
                raise _reject("room", f"No room {row['room']!r}: rooms are {', '.join(sorted(self._rooms))}.")
            data["room_id"] = room
        if row.get("modality"):
            data["modality"] = modality(row["modality"])
        for column in ("telehealth_url", "front_desk_note"):
            if row.get(column):
                data[column] = row[column]
        repeating = bool(row.get("repeat"))
        if repeating:
            rule = {"freq": row["repeat"].lower(), "interval": row.get("interval", "1")}
            for column in ("count", "until"):
                if row.get(column):
                    rule[column] = row[column]
            if rule.get("until") and "T" not in rule["until"]:  # a date: through the end of that day
                rule["until"] = f"{rule['until']}T23:59:59+00:00"
            loaded = s.SeriesIn().load({**data, "rule": rule})
        else:
            loaded = s.AppointmentIn().load(data)
        if loaded["starts_at"] <= self.now:
            raise _reject("starts_at", "In the past: only future appointments are imported.")
        key = row.get("external_id") or (
            f"slot:{loaded['client_id']}:{loaded['clinician_id']}:{loaded['starts_at'].astimezone(UTC).isoformat()}"
        )
        if not self._claim("appointments", key, outcome.line, outcome):
            return
        if repeating:
            rule_obj = Rule(**loaded.pop("rule"))
            loaded.pop("on_conflict", None)
            req = appts.BookingRequest(**loaded, announce=self.announce)
            created, booked, _ = series.book_series(
                self.session, req, rule_obj, self.now, on_conflict="none", by=self.by, link_key=self.link_key
            )
            self._record("appointments", key, created.id, outcome)
            outcome.appointments = len(booked)
        else:
            appt = appts.book(
                self.session, appts.BookingRequest(**loaded, announce=self.announce), self.now, self.by,
                link_key=self.link_key,
            )  # fmt: skip
            self._record("appointments", key, appt.id, outcome)
            outcome.appointments = 1

    def _type(self, value: str | None, errors: dict) -> str | None:
        if not value:
            errors["type"] = ["Missing data for required field."]
            return None
        if value in self._types:
            return value
        by_name = [t.id for t in self._types.values() if t.name.lower() == value.lower()]
        if by_name:
            return by_name[0]
        errors["type"] = [f"No appointment type {value!r}: use one of {', '.join(sorted(self._types))}."]
        return None

    def _starts_at(self, row: dict[str, str], clinician: Clinician) -> str:
        """ISO ``starts_at`` as given, or ``date`` + ``time`` read in the clinician's timezone."""
        if row.get("starts_at"):
            return row["starts_at"]
        if not (row.get("date") and row.get("time")):
            raise _reject("starts_at", "Give starts_at (with its UTC offset), or date and time.")
        local = datetime.fromisoformat(f"{row['date']}T{row['time']}")
        return local.replace(tzinfo=ZoneInfo(clinician.timezone)).isoformat()


def columns_doc() -> dict[str, list[str]]:
    return COLUMNS
