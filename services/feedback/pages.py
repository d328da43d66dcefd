"""The therapist's dashboard pages: caseload, a client's progress charts and answers, and alerts to acknowledge
and resolve. Every read goes through ``queries.py``'s visibility rules."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import select

from services.feedback import alerts, change, kiosk, progress_report, queries
from services.feedback.change import reliable_change_points
from services.feedback.chart import progress_svg
from services.feedback.models import Alert, KioskDevice, ProgressShare
from services.feedback.viewer import current_viewer
from shared.db import utcnow
from shared.unit_of_work import transaction
from shared.web import settings_of

bp = Blueprint("dashboard", __name__, template_folder="templates")


@bp.app_template_filter("age")
def age(delta: timedelta) -> str:
    """A duration as a person reads it on a list: "45 min", "3 h 20 min", "2 days 4 h"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@bp.get("/dashboard")
def home():
    sort = request.args.get("sort", "attention")
    sort = sort if sort in queries.CASELOAD_SORTS else "attention"
    attention_only = request.args.get("show") == "attention"
    with transaction() as session:
        rows = queries.caseload(session, current_viewer(session), sort, attention_only)
    return render_template("dashboard/caseload.html", rows=rows, sort=sort, attention_only=attention_only)


@bp.get("/dashboard/clients/<client_id>")
def client_page(client_id):
    with transaction() as session:
        client = queries.visible_client(session, current_viewer(session), client_id)
        charts = []
        used = session.scalars(
            select(queries.Response.measure).where(queries.Response.client_id == client.id).distinct()
        ).all()
        for measure_id in sorted(used):
            found = queries.progress(session, client, measure_id)
            m = found["measure"]
            svg = progress_svg(
                f"{m.name} for {client.preferred_name}",
                found["points"],
                tuple(m.range),
                higher_is_worse=m.higher_is_worse,
                expected=found["expected"],
                cutoff=m.clinical_cutoff,
                rc_points=reliable_change_points(m),
            )
            charts.append({**found, "svg": Markup(svg)})  # noqa: S704 - our own SVG, every text in it escaped
        client_alerts = session.scalars(
            select(Alert).where(Alert.client_id == client.id).order_by(Alert.opened_at.desc())
        ).all()
        grants = queries.break_glass_on(session, client.id)
        attended, completed = queries.attendance(session, client)
        names = queries.clinician_names(session)
        tablets = session.scalars(
            select(KioskDevice).where(KioskDevice.revoked_at.is_(None)).order_by(KioskDevice.name)
        ).all()
        shares = session.scalars(
            select(ProgressShare).where(ProgressShare.client_id == client.id).order_by(ProgressShare.created_at)
        ).all()
    return render_template(
        "dashboard/client.html",
        client=client,
        charts=charts,
        alerts=client_alerts,
        grants=grants,
        attended=attended,
        completed=completed,
        names=names,
        direction=change.direction,
        in_words=change.in_words,
        tablets=tablets,
        started=request.args.get("started"),
        shares=shares,
        shared=request.args.get("shared"),
    )


@bp.get("/dashboard/team")
def team():
    """A supervisor's page: every alert not yet resolved across the clinicians they supervise, oldest first."""
    with transaction() as session:
        rows = queries.team_alerts(session, current_viewer(session))
    return render_template("dashboard/team.html", rows=rows, now=utcnow())


@bp.get("/dashboard/reports")
def reports():
    """Outcome report for supervisors (their team) and admins (the practice): a chart and a table of the
    NHS Talking Therapies rates for episodes that ended in the period, with a CSV of the same rows."""
    from services.feedback import reports as outcome_reports
    from services.feedback.schemas import ReportQuery
    from services.feedback.viewer import report_scope

    errors = ReportQuery().validate(request.args)
    args = {} if errors else ReportQuery().load(request.args)
    start, end = outcome_reports.period(args)
    minimum = settings_of(current_app).report_min_episodes
    with transaction() as session:
        rows = outcome_reports.outcome_report(session, start, end, report_scope(session), minimum)
    if args.get("format") == "csv":
        return outcome_reports.csv_response(rows, minimum, start, end)
    return render_template(
        "dashboard/reports.html",
        rows=rows,
        start=start.date(),
        last=(end - timedelta(days=1)).date(),
        minimum=minimum,
        errors=errors,
    ), (422 if errors else 200)


@bp.get("/alerts/<alert_id>")
def alert_page(alert_id):
    with transaction() as session:
        alert = queries.visible_alert(session, current_viewer(session), alert_id)
        client = session.get(queries.ClientRecord, alert.client_id)
    return render_template("dashboard/alert.html", alert=alert, client=client)


@bp.get("/dashboard/clients/<client_id>/report")
def progress_report_page(client_id):
    """The client's own progress report, for the session: printable on one page (save as PDF from the print
    dialog). Totals and what they mean only: no item answers, alert texts or risk flags."""
    with transaction() as session:
        client = queries.visible_client(session, current_viewer(session), client_id)
        sections = progress_report.sections(session, client)
    return render_template("progress_report.html", sections=sections, name=client.preferred_name, printable=True)


@bp.post("/dashboard/clients/<client_id>/share")
def share_progress(client_id):
    """Send the client a single-use link to their progress report (by their usual channel; audited)."""
    settings = settings_of(current_app)
    with transaction() as session:
        client = queries.visible_client(session, current_viewer(session), client_id)
        progress_report.share(
            session,
            client,
            by=g.principal.subject,
            clinician_id=g.principal.clinician_id,
            now=utcnow(),
            base_url=settings.questionnaire_base_url,
            link_key=settings.link_key,
        )
    return redirect(url_for("dashboard.client_page", client_id=client_id, shared=1) + "#share-h", code=303)


@bp.post("/dashboard/clients/<client_id>/questionnaires")
def start_questionnaire(client_id):
    """Start the client's questionnaire now: sent by their usual channel, or on a practice tablet."""
    kiosk_id = request.form.get("kiosk_id") or None
    with transaction() as session:
        viewer = current_viewer(session)
        assignment = kiosk.start_for(session, g.principal, viewer, settings_of(current_app), client_id, None, kiosk_id)
        started = "tablet" if assignment.kiosk_id else ("sent" if assignment.token_hash else assignment.status)
    return redirect(url_for("dashboard.client_page", client_id=client_id, started=started) + "#start-h", code=303)


@bp.post("/alerts/<alert_id>/<action>")
def alert_action(alert_id, action):
    with transaction() as session:
        alert = queries.visible_alert(session, current_viewer(session), alert_id)
        if action == "acknowledge":
            note = request.form.get("note", "").strip()[:2000]
            alerts.acknowledge(
                session, alert, g.principal.subject, utcnow(), clinician_id=g.principal.clinician_id, note=note
            )
            if request.form.get("back") == "team":
                return redirect(url_for("dashboard.team"), code=303)
        elif action == "resolve":
            note = request.form.get("note", "").strip()
            if len(note) < 3:
                client = session.get(queries.ClientRecord, alert.client_id)
                return render_template(
                    "dashboard/alert.html", alert=alert, client=client, error="Write a short note on what was done."
                ), 422
            alerts.resolve(session, alert, g.principal.subject, note, utcnow(), clinician_id=g.principal.clinician_id)
        else:
            abort(404)
    return redirect(url_for("dashboard.alert_page", alert_id=alert_id), code=303)
