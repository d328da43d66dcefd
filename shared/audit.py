"""The audit trail every service keeps in its own database: one record per request to a staff route (pages,
API, FHIR and CSV exports, refusals included), hash-chained so that a changed, removed or reordered record is
detected by ``flask --app services.<name> verify-audit``. Admins read it on ``/admin/audit`` (filter, CSV);
``prune-audit`` drops records older than the retention and re-anchors the chain.

A record holds who (subject, roles), what (method and endpoint, the route template), which client (an id),
when, from where, the request id and the outcome: never a name, an answer or a note.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import Blueprint, Flask, Response, current_app, g, render_template_string, request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import ServiceUnavailable

from shared import logs
from shared.db import utcnow
from shared.messaging.tables import AuditHead, AuditRecord

log = logs.get("audit")
FIELDS = ("seq", "at", "subject", "roles", "action", "resource", "client_id", "source_ip", "request_id", "outcome")


def record_hash(prev_hash: str, values: dict) -> str:
    body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items() if k in FIELDS}
    return hashlib.sha256((prev_hash + json.dumps(body, sort_keys=True)).encode()).hexdigest()


def append(session: Session, **values) -> AuditRecord:
    """Add one record at the end of the chain (the head row is locked: writers chain one after another)."""
    stmt = select(AuditHead).where(AuditHead.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    head = session.scalar(stmt)
    values = {**values, "seq": head.last_seq + 1}
    row = AuditRecord(**values, prev_hash=head.last_hash, hash=record_hash(head.last_hash, values))
    session.add(row)
    head.last_seq, head.last_hash = row.seq, row.hash
    return row


def verify(session: Session) -> tuple[int, int | None]:
    """Walk the chain: (records checked, the first seq that does not match, or None when all do)."""
    head = session.get(AuditHead, 1)
    prev, expected_seq, checked = head.anchor_hash, head.anchor_seq + 1, 0
    for row in session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).yield_per(1000):
        values = {f: getattr(row, f) for f in FIELDS}
        if row.seq != expected_seq or row.prev_hash != prev or row.hash != record_hash(prev, values):
            return checked, row.seq
        prev, expected_seq, checked = row.hash, row.seq + 1, checked + 1
    if expected_seq - 1 != head.last_seq or prev != head.last_hash:
        return checked, expected_seq  # records at the end were removed
    return checked, None


def prune(session: Session, older_than: datetime) -> int:
    """Drop records older than the retention; the chain then starts from the last one dropped."""
    last = session.scalar(
        select(AuditRecord).where(AuditRecord.at < older_than).order_by(AuditRecord.seq.desc()).limit(1)
    )
    if last is None:
        return 0
    head = session.get(AuditHead, 1)
    head.anchor_seq, head.anchor_hash = last.seq, last.hash
    return session.execute(delete(AuditRecord).where(AuditRecord.seq <= last.seq)).rowcount


def _client_id(response) -> str | None:
    found = (request.view_args or {}).get("client_id") or g.get("audit_client_id")
    if found is None and response.is_json and response.status_code < 300:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("client_id"), str):
            found = body["client_id"]
    return found


def applies() -> bool:
    """Whether this request's route is audited (every route that is not public)."""
    rule = current_app.extensions["attune_policy"].get(request.endpoint or "")
    return rule is not None and not rule.public


def record(session: Session, response) -> None:
    """Add this request's record to ``session``: in the request's own unit of work the record commits with the
    request's changes (one commit instead of two, and no change stands without its record); the after-request
    hook is then told not to write it again."""
    principal = g.get("principal")
    append(
        session,
        at=utcnow(),
        subject=principal.subject if principal else None,
        roles=",".join(sorted(principal.roles)) if principal else "",
        action=f"{request.method} {request.endpoint}",
        resource=request.url_rule.rule if request.url_rule else request.path[:255],
        client_id=_client_id(response),
        source_ip=(request.remote_addr or "")[:64],
        request_id=g.get("request_id", "")[:64],
        outcome=response.status_code,
    )


class Unrecorded(ServiceUnavailable):
    description = "The audit trail could not be written; try again."


def record_or_refuse(session: Session, response) -> None:
    """``record``, and a failure to write it refuses the request (503): its changes roll back with it."""
    try:
        record(session, response)
    except Exception as exc:  # noqa: BLE001 - any failure: nothing is done that was not audited
        log.error("audit.write_failed", error=logs.safe_error(exc))
        raise Unrecorded() from exc


def recorded() -> None:
    """The request's record committed with its unit of work (see ``record``)."""
    g.audit_recorded = True


def install(app: Flask) -> None:
    """Record every request to a non-public route that its unit of work did not record already (refusals,
    failures, pages, exports), after its response is made; a request whose record cannot be written is answered
    503 (nothing is shown that was not audited)."""
    runtime = app.extensions["attune_runtime"]

    @app.after_request
    def _audit(response):
        if g.pop("audit_recorded", False) or not applies():
            return response
        try:
            with runtime.sessions() as s, s.begin():
                record_or_refuse(s, response)
        except Exception as exc:  # noqa: BLE001 - any failure: refuse rather than answer unaudited
            if not isinstance(exc, Unrecorded):  # a failed commit (record_or_refuse logged its own failure)
                log.error("audit.write_failed", error=logs.safe_error(exc))
            from shared.web import problem

            return problem(503, "Service Unavailable", Unrecorded.description)
        return response

    bp = Blueprint("audit", __name__)

    @bp.get("/admin/audit")
    def page():
        rows = _filtered()
        if request.args.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(FIELDS)
            for row in rows:
                writer.writerow([getattr(row, f) for f in FIELDS])
            headers = {"Content-Disposition": f"attachment; filename=audit-{current_app.name.split('.')[-1]}.csv"}
            return Response(out.getvalue(), mimetype="text/csv", headers=headers)
        return render_template_string(PAGE, rows=rows, args=request.args, fields=FIELDS)

    app.register_blueprint(bp)

    @app.cli.command("verify-audit")
    def verify_command():
        """Check the audit chain; exit 1 at the first record that was changed, removed or reordered."""
        with runtime.sessions() as s:
            checked, broken = verify(s)
        if broken is not None:
            click.echo(f"audit chain broken at record {broken} (after {checked} good records)", err=True)
            raise SystemExit(1)
        click.echo(f"audit chain intact: {checked} records")

    @app.cli.command("prune-audit")
    @click.option("--days", type=float, default=None, help="keep this many days (default: AUDIT_RETENTION_DAYS)")
    def prune_command(days):
        """Drop audit records older than the retention (the chain stays verifiable)."""
        keep = days if days is not None else runtime.settings.audit_retention_days
        with runtime.sessions() as s, s.begin():
            dropped = prune(s, utcnow() - timedelta(days=keep))
        click.echo(f"pruned {dropped} audit records older than {keep:g} days")


def _filtered() -> list[AuditRecord]:
    stmt = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(min(int(request.args.get("limit", 500)), 5000))
    for name in ("subject", "client_id"):
        if request.args.get(name):
            stmt = stmt.where(getattr(AuditRecord, name) == request.args[name])
    if request.args.get("action"):
        stmt = stmt.where(AuditRecord.action.contains(request.args["action"]))
    if request.args.get("since"):
        stmt = stmt.where(AuditRecord.at >= datetime.fromisoformat(request.args["since"]))
    with current_app.extensions["attune_runtime"].sessions() as s:
        return list(s.scalars(stmt))


PAGE = (Path(__file__).parent / "audit.html").read_text()
