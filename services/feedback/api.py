"""Feedback's clinical JSON API (flask-smorest, OpenAPI): caseload, progress, answers, FHIR export, alerts and
measurement plans. Every read goes through ``queries.py``'s visibility rules."""

from __future__ import annotations

import json

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from services.feedback import alerts, kiosk, measures, queries
from services.feedback.models import Alert, Assignment, KioskDevice, MeasurementPlan
from services.feedback.schemas import (
    AlertOut,
    BreakGlassIn,
    BreakGlassOut,
    CaseloadOut,
    KioskIn,
    KioskOut,
    PlanSchema,
    ProgressOut,
    QuestionnaireStatusOut,
    ReportQuery,
    ResolveIn,
    ResponseOut,
    StartQuestionnaireIn,
)
from services.feedback.viewer import current_viewer
from shared.db import utcnow
from shared.errors import NotFound
from shared.statuses import AlertStatus, Severity
from shared.unit_of_work import session as current_session
from shared.unit_of_work import unit_of_work
from shared.web import settings_of

blp = Blueprint("clinical", __name__, url_prefix="/api", description="Caseload, progress and alerts")


@blp.route("/caseload")
class Caseload(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, CaseloadOut(many=True))
    def get(self):
        """The signed-in clinician's active clients (everyone's for a supervisor): open alerts first."""
        session = current_session()
        return queries.caseload(session, current_viewer(session))


@blp.route("/clients/<client_id>/progress/<measure_id>")
class Progress(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, ProgressOut)
    def get(self, client_id, measure_id):
        if measure_id not in measures.catalog():
            raise NotFound(f"No measure {measure_id!r}.")
        session = current_session()
        found = queries.progress(
            session, queries.visible_client(session, current_viewer(session), client_id), measure_id
        )
        return {
            "measure": measure_id,
            "points": found["points"],
            "expected": [{"n": n, "expected": e, "boundary": b} for n, e, b in found["expected"]],
            "changes": found["changes"],
            "change_class": found["change_class"],
        }


@blp.route("/clients/<client_id>/responses")
class Responses(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, ResponseOut(many=True))
    def get(self, client_id):
        """Item-level answers, for the clinician (never sent anywhere else)."""
        from services.feedback.models import Response

        session = current_session()
        client = queries.visible_client(session, current_viewer(session), client_id)
        return session.scalars(
            select(Response).where(Response.client_id == client.id).order_by(Response.completed_at)
        ).all()


@blp.route("/clients/<client_id>/fhir")
class FhirExport(MethodView):
    decorators = [unit_of_work]

    @blp.doc(responses={200: {"description": "A FHIR R4 Bundle (application/fhir+json)"}})
    def get(self, client_id):
        """The client's questionnaires as FHIR: QuestionnaireResponses and total-score Observations."""
        from services.feedback.fhir_export import client_bundle
        from services.feedback.models import Response

        session = current_session()
        client = queries.visible_client(session, current_viewer(session), client_id)
        responses = session.scalars(
            select(Response).where(Response.client_id == client.id).order_by(Response.completed_at)
        ).all()
        body = client_bundle(client.id, list(responses))
        return current_app.response_class(json.dumps(body), mimetype="application/fhir+json")


@blp.route("/clients/<client_id>/questionnaires")
class Questionnaires(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, QuestionnaireStatusOut(many=True))
    def get(self, client_id):
        """Whether questionnaires went out and were completed (what the front desk may see: no scores)."""
        session = current_session()
        if g.principal.has("clinician", "supervisor"):  # the front desk sees every client's completion status
            queries.visible_client(session, current_viewer(session), client_id)
        return session.scalars(
            select(Assignment).where(Assignment.client_id == client_id).order_by(Assignment.issued_at)
        ).all()

    @blp.arguments(StartQuestionnaireIn)
    @blp.response(201, QuestionnaireStatusOut)
    def post(self, data, client_id):
        """Start a questionnaire now (trigger ``manual``): sent by the client's usual channel, or handed to a
        practice tablet (``kiosk_id``) for the client to fill in in the room."""
        session = current_session()
        viewer = current_viewer(session)
        return kiosk.start_for(
            session, g.principal, viewer, settings_of(current_app), client_id, data["measures"], data["kiosk_id"]
        )


@blp.route("/kiosks")
class Kiosks(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, KioskOut(many=True))
    def get(self):
        """The practice's tablets (to choose one when starting a questionnaire in the room)."""
        return (
            current_session()
            .scalars(select(KioskDevice).where(KioskDevice.revoked_at.is_(None)).order_by(KioskDevice.name))
            .all()
        )

    @blp.arguments(KioskIn)
    @blp.response(201, KioskOut)
    def post(self, data):
        """Register a practice tablet: its link is in this answer only (open it on the tablet, keep it there)."""
        device, token = kiosk.register(current_session(), data["name"], g.principal.subject, utcnow())
        settings = settings_of(current_app)
        return {"id": device.id, "name": device.name, "url": f"{settings.questionnaire_base_url}/kiosk/{token}"}


@blp.route("/alerts")
class Alerts(MethodView):
    decorators = [unit_of_work]

    @blp.arguments(
        Schema.from_dict(
            {"status": fields.String(load_default="open", validate=validate.OneOf(["open", "all"]))}, name="AlertQuery"
        ),
        location="query",
    )
    @blp.response(200, AlertOut(many=True))
    def get(self, args):
        session = current_session()
        stmt = select(Alert).order_by(Alert.opened_at.desc())
        if args["status"] == "open":
            stmt = stmt.where(Alert.status != AlertStatus.RESOLVED)
        viewer = current_viewer(session)
        if viewer.clinicians is not None:
            stmt = stmt.where(Alert.clinician_id.in_(viewer.clinicians))
        return sorted(session.scalars(stmt).all(), key=lambda a: Severity.most_urgent_first(a.severity))


@blp.route("/alerts/<alert_id>/acknowledge", methods=["POST"])
@unit_of_work
@blp.response(200, AlertOut)
def acknowledge_alert(alert_id):
    session = current_session()
    alert = queries.visible_alert(session, current_viewer(session), alert_id)
    return alerts.acknowledge(session, alert, g.principal.subject, utcnow(), clinician_id=g.principal.clinician_id)


@blp.route("/alerts/<alert_id>/resolve", methods=["POST"])
@unit_of_work
@blp.arguments(ResolveIn)
@blp.response(200, AlertOut)
def resolve_alert(data, alert_id):
    session = current_session()
    alert = queries.visible_alert(session, current_viewer(session), alert_id)
    by = g.principal
    return alerts.resolve(session, alert, by.subject, data["note"], utcnow(), clinician_id=by.clinician_id)


def _plan_out(session, scope: str) -> dict:
    """The plan in force for ``scope`` (a client id, or "practice")."""
    from services.feedback.handlers import plan_for

    return {**plan_for(session, scope, settings_of(current_app)).as_dict(), "scope": scope}


def _save_plan(session, scope: str, data: dict) -> dict:
    session.merge(MeasurementPlan(scope=scope, updated_by=g.principal.subject, **data))
    session.flush()
    return _plan_out(session, scope)


@blp.route("/plans/practice")
class PracticePlan(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, PlanSchema)
    def get(self):
        """The practice's default measurement plan."""
        session = current_session()
        return _plan_out(session, "practice")

    @blp.arguments(PlanSchema)
    @blp.response(200, PlanSchema)
    def put(self, data):
        session = current_session()
        return _save_plan(session, "practice", data)


@blp.route("/clients/<client_id>/plan")
class ClientPlan(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, PlanSchema)
    def get(self, client_id):
        """The plan in force for this client (their own, else the practice's)."""
        session = current_session()
        queries.visible_client(session, current_viewer(session), client_id)
        return _plan_out(session, client_id)

    @blp.arguments(PlanSchema)
    @blp.response(200, PlanSchema)
    def put(self, data, client_id):
        session = current_session()
        queries.visible_client(session, current_viewer(session), client_id)
        return _save_plan(session, client_id, data)

    @blp.response(204)
    def delete(self, client_id):
        """Back to the practice plan."""
        session = current_session()
        queries.visible_client(session, current_viewer(session), client_id)
        row = session.get(MeasurementPlan, client_id)
        if row is not None:
            session.delete(row)


@blp.route("/clients/<client_id>/break-glass")
class BreakGlass(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, BreakGlassOut(many=True))
    def get(self, client_id):
        """Who opened this client outside their caseload, when and why (for the client's own clinician)."""
        session = current_session()
        queries.visible_client(session, current_viewer(session), client_id)
        return queries.break_glass_on(session, client_id)

    @blp.arguments(BreakGlassIn)
    @blp.response(201, BreakGlassOut)
    def post(self, data, client_id):
        """Open a client outside your caseload (an emergency, covering a colleague): give the reason. The access
        is time-limited, audited and shown to the client's clinician and supervisor."""
        session = current_session()
        hours = settings_of(current_app).break_glass_hours
        return queries.open_break_glass(session, current_viewer(session), client_id, data["reason"], utcnow(), hours)


@blp.route("/reports/outcomes")
@unit_of_work
@blp.arguments(ReportQuery, location="query")
@blp.response(200)
def outcome_report(args):
    """Outcomes of the episodes that ended in the period (NHS Talking Therapies definitions): finished
    episodes, paired PHQ-9 and GAD-7 scores, recovery, reliable improvement, reliable recovery, reliable
    deterioration, questionnaire completion and mean change, for the practice (admins) or the supervisor's
    team, each team and each clinician. A group with fewer than ``REPORT_MIN_EPISODES`` finished episodes
    shows no figures. ``format=csv`` returns the same rows as CSV."""
    from services.feedback import reports
    from services.feedback.viewer import report_scope

    session = current_session()
    start, end = reports.period(args)
    minimum = settings_of(current_app).report_min_episodes
    rows = reports.outcome_report(session, start, end, report_scope(session), minimum)
    if args["format"] == "csv":
        return reports.csv_response(rows, minimum, start, end)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "min_episodes": minimum,
        "rows": [{"suppressed": r.suppressed, **reports.as_row(r, minimum)} for r in rows],
    }
