"""Handing data back: everything the practice holds about a client, across the three services, as one zip of a
FHIR R4 Bundle (``fhir/<client id>.json``: Patient, Practitioner, Appointment, QuestionnaireResponse,
Observation) and CSV files (one per table, a ``client_id`` column in each); for one client or, streamed with a
progress bar, for the whole practice. Each service's own ``export`` module reads its own database; each
export is written to every service's audit trail (ids only).

Resources are validated with fhir.resources' R4B models (R4's technical correction; identical for these
resources) before they are written: an export that would not validate is not written at all.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import socket
import tempfile
import uuid
import zipfile
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.orm import Session
from tqdm import tqdm

from shared import audit
from shared.db import make_engine, make_session_factory, transaction, utcnow

SERVICES = ("scheduling", "feedback", "notifications")


class Export:
    """Open sessions on the three databases for the length of one export."""

    def __init__(self, settings: dict):
        self.stack = ExitStack()
        self.sessions: dict[str, Session] = {}
        self.factories = {}
        self.modules = {s: importlib.import_module(f"services.{s}.export") for s in SERVICES}
        for service in SERVICES:
            engine = make_engine(settings[service].database_url)
            self.stack.callback(engine.dispose)
            self.factories[service] = make_session_factory(engine)
            self.sessions[service] = self.stack.enter_context(self.factories[service]())

    def close(self) -> None:
        self.stack.close()

    def client_ids(self) -> list[str]:
        return self.modules["scheduling"].client_ids(self.sessions["scheduling"])

    def tables(self, client_id: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for service in SERVICES:
            for name, rows in self.modules[service].tables(self.sessions[service], client_id).items():
                out[f"{service}_{name}"] = [{"client_id": client_id, **row} for row in rows]
        return out

    def bundle(self, client_id: str) -> dict:
        resources = [r for s in SERVICES for r in self.modules[s].fhir(self.sessions[s], client_id)]
        entries = [{"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, r['resourceType'] + '/' + r['id'])}",
                    "resource": r} for r in resources]  # fmt: skip
        bundle = {"resourceType": "Bundle", "type": "collection", "timestamp": utcnow().isoformat(), "entry": entries}
        return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)

    def release(self) -> None:
        """End the read transactions (on SQLite a transaction holds the write lock: the services must not
        wait for a whole practice's export)."""
        for session in self.sessions.values():
            session.rollback()

    def audit(self, client_id: str | None, by: str, what: str) -> None:
        self.release()
        for service in SERVICES:
            with transaction(self.factories[service]) as s:
                audit.append(
                    s, at=utcnow(), subject=by, roles="operator", action=f"EXPORT {what}", resource="attune export",
                    client_id=client_id, source_ip=socket.gethostname()[:64], request_id=str(uuid.uuid4()),
                    outcome=200,
                )  # fmt: skip


def _write_tables(zf: zipfile.ZipFile, files: dict[str, Path]) -> None:
    for name, path in sorted(files.items()):
        zf.write(path, f"{name}.csv")


class _TableFiles:
    """One CSV per table on disk, appended client by client (bounded memory for a whole practice)."""

    def __init__(self, folder: Path):
        self.folder, self.writers, self.handles, self.paths = folder, {}, {}, {}

    def add(self, tables: dict[str, list[dict]]) -> None:
        for name, rows in tables.items():
            if not rows:
                continue
            if name not in self.writers:
                self.paths[name] = self.folder / f"{name}.csv"
                self.handles[name] = self.paths[name].open("w", newline="")
                self.writers[name] = csv.DictWriter(self.handles[name], list(rows[0]))
                self.writers[name].writeheader()
            self.writers[name].writerows(rows)

    def close(self) -> dict[str, Path]:
        for handle in self.handles.values():
            handle.close()
        return self.paths


def export(settings: dict, dest: Path, client_ids: Iterable[str] | None = None, by: str = "operator",
           progress: bool = True) -> dict:  # fmt: skip
    """Write the zip at ``dest`` for ``client_ids`` (default: every client); returns counts."""
    job = Export(settings)
    try:
        ids = list(client_ids) if client_ids is not None else job.client_ids()
        resources = 0
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
            tables = _TableFiles(Path(tmp))
            for client_id in tqdm(ids, desc="exporting", unit="client", disable=not progress):
                rows = job.tables(client_id)
                if not rows.get("scheduling_client"):
                    raise LookupError(f"no client {client_id} in scheduling")
                bundle = job.bundle(client_id)
                resources += len(bundle.get("entry", []))
                zf.writestr(f"fhir/{client_id}.json", json.dumps(bundle, indent=1))
                tables.add(rows)
                job.release()
            _write_tables(zf, tables.close())
            zf.writestr("README.txt", README)
        job.audit(ids[0] if len(ids) == 1 else None, by, "client" if len(ids) == 1 else f"practice ({len(ids)})")
        return {"clients": len(ids), "resources": resources}
    finally:
        job.close()


README = """This archive holds what an Attune practice keeps about its clients.

fhir/<client id>.json  a FHIR R4 Bundle per client: Patient, Practitioner, Appointment, QuestionnaireResponse
                       (every answer) and Observation (each total score)
*.csv                  the same and more as tables, one row per record, a client_id column in each:
                       scheduling_* (details, consent trail, appointments and their history, message log),
                       feedback_* (questionnaires, answers, scores, alerts), notifications_messages (what was sent
                       and when: never a message's text)
"""


def read_tables(zip_path: Path) -> dict[str, list[dict]]:
    """The CSV files of an export (for checks and re-imports)."""
    with zipfile.ZipFile(zip_path) as zf:
        return {
            name.removesuffix(".csv"): list(csv.DictReader(io.StringIO(zf.read(name).decode())))
            for name in zf.namelist()
            if name.endswith(".csv")
        }
