"""The audit trail: every staff request recorded (refusals too) with ids and never names, a hash chain that
finds a changed or removed record, retention that keeps the chain verifiable, and the admin's page and CSV."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from shared.audit import FIELDS, record_hash, verify
from shared.messaging.tables import AuditHead, AuditRecord
from tests.support import identity
from tests.support.apps import make_app, make_scheduling
from tests.support.feedback_data import client_with_scores


def _records(made) -> list[AuditRecord]:
    with made.runtime.sessions() as s:
        return list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def test_reads_changes_and_refusals_are_recorded_with_ids_only(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    desk = made.headers("frontdesk")
    client = made.client.post("/api/clients", headers=desk, json={"legal_name": "Joanna Bloggs"}).json
    made.client.get(f"/api/clients/{client['id']}", headers=desk)
    made.client.get(f"/api/clients/{client['id']}")  # nobody signed in
    made.client.get("/healthz")  # public: not audited
    rows = _records(made)
    assert [(r.action, r.outcome) for r in rows] == [
        ("POST scheduling.Clients", 201),
        ("GET scheduling.ClientById", 200),
        ("GET scheduling.ClientById", 401),
    ]
    assert rows[1].client_id == client["id"] and rows[0].client_id == client["id"]  # from the URL, the body
    assert rows[1].resource == "/api/clients/<client_id>" and rows[1].roles == "frontdesk" and rows[1].subject
    assert rows[2].subject is None and rows[2].request_id
    for row in rows:
        assert "Joanna" not in " ".join(str(getattr(row, c.key)) for c in AuditRecord.__table__.columns)


def test_a_change_commits_with_its_record_or_not_at_all(tmp_path, monkeypatch):
    """The record is written in the request's own transaction: one record per request, never a second one from
    the after-request hook, and a change whose record cannot be written is not made."""
    from services.scheduling.models import Client
    from shared import audit

    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    desk = made.headers("frontdesk")
    assert made.client.post("/api/clients", headers=desk, json={"legal_name": "A. Client"}).status_code == 201
    assert [r.action for r in _records(made)] == ["POST scheduling.Clients"]

    def broken(*_args, **_kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "append", broken)
    refused = made.client.post("/api/clients", headers=desk, json={"legal_name": "B. Client"})
    assert refused.status_code == 503
    monkeypatch.undo()
    with made.runtime.sessions() as s:
        assert [c.legal_name for c in s.scalars(select(Client))] == ["A. Client"]
    assert len(_records(made)) == 1


def test_the_fhir_export_is_audited_with_its_client(tmp_path):
    made = make_app("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    client_with_scores(made.runtime, "c-jo", "k1", [10, 12])
    assert made.client.get("/api/clients/c-jo/fhir", headers=made.headers("clinician", "k1")).status_code == 200
    (row,) = _records(made)
    assert row.action == "GET clinical.FhirExport" and row.client_id == "c-jo" and row.outcome == 200


def test_a_changed_or_removed_record_breaks_the_chain(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    for _ in range(5):
        made.client.get("/api/clients", headers=made.headers("frontdesk"))
    runner = made.app.test_cli_runner()
    assert runner.invoke(args=["verify-audit"]).exit_code == 0
    with made.runtime.sessions() as s, s.begin():
        s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(outcome=403))
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 1 and "broken at record 3" in result.output
    with made.runtime.sessions() as s, s.begin():
        s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(outcome=200))
        assert verify(s) == (5, None)
        s.delete(s.get(AuditRecord, 5))  # the newest one, quietly removed
    with made.runtime.sessions() as s:
        assert verify(s) == (4, 5)


def test_retention_prunes_old_records_and_the_chain_still_verifies(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    for _ in range(4):
        made.client.get("/api/clients", headers=made.headers("frontdesk"))
    with made.runtime.sessions() as s, s.begin():  # the first two are three years old
        old = datetime.now(UTC) - timedelta(days=3 * 365)
        for row in s.scalars(select(AuditRecord).where(AuditRecord.seq <= 2)):
            row.at = old
    with made.runtime.sessions() as s, s.begin():  # re-hash them as if written then (a fair test of pruning)
        prev = "0" * 64
        for row in s.scalars(select(AuditRecord).order_by(AuditRecord.seq)):
            row.prev_hash, row.hash = prev, record_hash(prev, {f: getattr(row, f) for f in FIELDS})
            prev = row.hash
        s.get(AuditHead, 1).last_hash = prev
    result = made.app.test_cli_runner().invoke(args=["prune-audit", "--days", "365"])
    assert "pruned 2" in result.output
    assert [r.seq for r in _records(made)] == [3, 4]
    assert made.app.test_cli_runner().invoke(args=["verify-audit"]).exit_code == 0


def test_concurrent_requests_chain_in_order(db_url):
    made = make_scheduling(db_url)
    headers = made.headers("frontdesk")

    def hit():
        client = made.app.test_client()
        for _ in range(5):
            assert client.get("/api/rooms", headers=headers).status_code == 200

    threads = [threading.Thread(target=hit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with made.runtime.sessions() as s:
        assert verify(s) == (30, None)


def test_admins_read_and_download_the_trail_and_nobody_else_does(tmp_path):
    made = make_app("notifications", f"sqlite:///{tmp_path / 'n.db'}")
    made.client.get("/api/deliveries", headers=made.headers("frontdesk"))
    desk = made.app.test_client()
    identity.sign_in(desk, "frontdesk")
    assert desk.get("/admin/audit").status_code == 403
    admin = made.app.test_client()
    identity.sign_in(admin, "admin")
    page = admin.get("/admin/audit?action=Deliveries").get_data(as_text=True)
    assert "GET deliveries.Deliveries" in page
    csv_text = admin.get("/admin/audit?format=csv&action=Deliveries").get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("seq,at,subject") and "GET deliveries.Deliveries" in lines[1]
