"""The admin's import page: upload the CSV files, see the dry run (counts, every rejected row with its
reasons, a download of them), then import. The same importer as ``flask import``; a practice's whole history
goes through the command (this page takes files up to the request limit and PAGE_ROWS rows, so an import
finishes within a request)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from services.scheduling.import_mapping import KINDS, Mapping, MappingError, read_csv, shipped_mappings
from services.scheduling.importer import Importer
from services.scheduling.models import ImportUpload
from shared.db import utcnow
from shared.unit_of_work import transaction
from shared.web import runtime_of, settings_of

bp = Blueprint("imports", __name__, template_folder="templates")
PAGE_ROWS = 1000


def _run(upload: ImportUpload, *, dry_run: bool):
    """The importer over the upload's files, in its own session (a dry run is rolled back)."""
    files = {kind: read_csv(text)[1] for kind, text in upload.files.items()}
    with runtime_of(current_app).sessions() as session:
        importer = Importer(session, Mapping.load(upload.mapping), now=utcnow(), by=g.principal.subject,
                            link_key=settings_of(current_app).link_key, announce=upload.announce,
                            dry_run=dry_run)  # fmt: skip
        try:
            return importer.run(files)
        finally:
            if dry_run:
                session.rollback()


def _form(status: int = 200, error: str | None = None):
    return render_template("desk/import.html", mappings=shipped_mappings(), error=error, page_rows=PAGE_ROWS), status


@bp.route("/desk/import", methods=["GET", "POST"])
def upload():
    if request.method == "GET":
        return _form()
    texts = {}
    for kind in KINDS:
        sent = request.files.get(kind)
        if sent and sent.filename:
            try:
                texts[kind] = sent.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                return _form(422, f"The {kind} file is not UTF-8 text: save it as “CSV UTF-8” and upload it again.")
    if not texts:
        return _form(422, "Choose at least one file.")
    rows = sum(len(read_csv(t)[1]) for t in texts.values())
    if rows > PAGE_ROWS:
        return _form(422, f"These files hold {rows:,} rows: the page takes up to {PAGE_ROWS:,}. "
                          "Use the import command for a whole practice (docs/operations.md).")  # fmt: skip
    mapping = request.form.get("mapping", "attune")
    try:
        Mapping.load(mapping if mapping in shipped_mappings() else "?")
    except MappingError as exc:
        return _form(422, str(exc))
    upload = ImportUpload(created_by=g.principal.subject, mapping=mapping, files=texts, preview={},
                          announce=request.form.get("announce") == "on")  # fmt: skip
    report = _run(upload, dry_run=True)
    rejected = [{"kind": o.kind, "line": o.line, "reason": o.reason} for o in report.rejected()]
    upload.preview = {
        "counts": report.counts(),
        "rejects": {k: report.rejects_csv(k) for k in texts if report.rejected(k)},
        "rejected": rejected[:500],
    }
    with transaction() as session:
        session.add(upload)
    return redirect(url_for("imports.preview", upload_id=upload.id), code=303)


def _upload(upload_id: str) -> ImportUpload:
    with transaction() as session:
        upload = session.get(ImportUpload, upload_id)
        if upload is None:
            abort(404)
        return upload


@bp.get("/desk/import/<upload_id>")
def preview(upload_id):
    upload = _upload(upload_id)
    return render_template("desk/import_preview.html", upload=upload, kinds=KINDS)


@bp.get("/desk/import/<upload_id>/rejected/<kind>.csv")
def rejects(upload_id, kind):
    text = _upload(upload_id).preview.get("rejects", {}).get(kind)
    if text is None:
        abort(404)
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{kind}-rejected.csv"'})  # fmt: skip


@bp.post("/desk/import/<upload_id>/apply")
def apply(upload_id):
    upload = _upload(upload_id)
    if upload.applied_at is None:
        report = _run(upload, dry_run=False)
        with transaction() as session:
            held = session.get(ImportUpload, upload_id)
            held.applied, held.applied_at, held.files = report.counts(), utcnow(), {}
        flash("Imported. Running it again creates nothing twice.", "ok")
    return redirect(url_for("imports.preview", upload_id=upload_id), code=303)
