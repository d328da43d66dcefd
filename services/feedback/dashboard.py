"""The therapist's dashboard: caseload, progress charts, item answers and the alert inbox, as JSON (OpenAPI) and
as pages. Every read goes through caseload.py's role checks."""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint
from markupsafe import Markup
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from services.feedback import alerts, caseload, measures
from services.feedback.change import reliable_change_points
from services.feedback.chart import progress_svg
from services.feedback.models import Alert, Assignment, MeasurementPlan
from shared.auth import require
from shared.db import utcnow
from shared.forms import guard_staff_pages
from shared.web import runtime_of

api = ApiBlueprint("clinical", __name__, url_prefix="/api", description="Caseload, progress and alerts")
pages = Blueprint("dashboard", __name__, template_folder="templates")
CLINICAL = caseload.CLINICAL


def _sessions():
    return runtime_of(current_app).sessions


class AlertOut(Schema):
    id = fields.String()
    client_id = fields.String()
    clinician_id = fields.String()
    rule = fields.String()
    measure = fields.String()
    severity = fields.String()
    status = fields.String()
    explanation = fields.String()
    opened_at = fields.AwareDateTime()
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolution_note = fields.String(allow_none=True)


class CaseloadOut(Schema):
    client_id = fields.String(attribute="client.id")
    preferred_name = fields.String(attribute="client.preferred_name")
    status = fields.String()
    last_scores = fields.Dict()
    questionnaires = fields.Integer()
    open_alerts = fields.List(fields.Nested(AlertOut))


class PointOut(Schema):
    n = fields.Integer()
    total = fields.Float()
    label = fields.String()
    alert = fields.String(allow_none=True)


class ProgressOut(Schema):
    measure = fields.String()
    points = fields.List(fields.Nested(PointOut))
    expected = fields.List(fields.Dict())


class ResponseOut(Schema):
    measure = fields.String()
    total = fields.Float()
    band = fields.String(allow_none=True)
    answers = fields.Dict()
    completed_at = fields.AwareDateTime()


class ResolveIn(Schema):
    note = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class QuestionnaireStatusOut(Schema):
    assignment_id = fields.String(attribute="id")
    trigger = fields.String()
    session_number = fields.Integer(allow_none=True)
    issued_at = fields.AwareDateTime()
    status = fields.String()
    skip_reason = fields.String(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)


def _known_measures(values: list[str]) -> None:
    unknown = sorted(set(values) - set(measures.catalog()))
    if unknown:
        raise ValidationError(f"Unknown measure(s): {', '.join(unknown)}.")


class PlanSchema(Schema):
    intake_measures = fields.List(fields.String(), required=True, validate=_known_measures)
    session_measures = fields.List(fields.String(), required=True, validate=_known_measures)
    every_n_sessions = fields.Integer(load_default=1, validate=validate.Range(min=1, max=52))
    min_days_between = fields.Integer(load_default=0, validate=validate.Range(min=0, max=365))
    scope = fields.String(dump_only=True)


@api.route("/caseload")
class Caseload(MethodView):
    decorators = [require(*CLINICAL)]

    @api.response(200, CaseloadOut(many=True))
    def get(self):
        """The signed-in clinician's active clients (everyone's for a supervisor): open alerts first."""
        with _sessions()() as session:
            return caseload.caseload(session, g.principal)


@api.route("/clients/<client_id>/progress/<measure_id>")
class Progress(MethodView):
    decorators = [require(*CLINICAL)]

    @api.response(200, ProgressOut)
    def get(self, client_id, measure_id):
        if measure_id not in measures.catalog():
            abort(404)
        with _sessions()() as session:
            found = caseload.progress(session, caseload.visible_client(session, g.principal, client_id), measure_id)
        return {
            "measure": measure_id,
            "points": found["points"],
            "expected": [{"n": n, "expected": e, "boundary": b} for n, e, b in found["expected"]],
        }


@api.route("/clients/<client_id>/responses")
class Responses(MethodView):
    decorators = [require(*CLINICAL)]

    @api.response(200, ResponseOut(many=True))
    def get(self, client_id):
        """Item-level answers, for the clinician (never sent anywhere else)."""
        from services.feedback.models import Response

        with _sessions()() as session:
            client = caseload.visible_client(session, g.principal, client_id)
            return session.scalars(
                select(Response).where(Response.client_id == client.id).order_by(Response.completed_at)
            ).all()


@api.route("/clients/<client_id>/fhir")
class FhirExport(MethodView):
    decorators = [require(*CLINICAL)]

    @api.doc(responses={200: {"description": "A FHIR R4 Bundle (application/fhir+json)"}})
    def get(self, client_id):
        """The client's questionnaires as FHIR: QuestionnaireResponses and total-score Observations."""
        from services.feedback.fhir_export import client_bundle
        from services.feedback.models import Response

        with _sessions()() as session:
            client = caseload.visible_client(session, g.principal, client_id)
            responses = session.scalars(
                select(Response).where(Response.client_id == client.id).order_by(Response.completed_at)
            ).all()
            body = client_bundle(client.id, list(responses))
        return current_app.response_class(json.dumps(body), mimetype="application/fhir+json")


@api.route("/clients/<client_id>/questionnaires")
class Questionnaires(MethodView):
    decorators = [require("frontdesk", *CLINICAL)]

    @api.response(200, QuestionnaireStatusOut(many=True))
    def get(self, client_id):
        """Whether questionnaires went out and were completed (what the front desk may see: no scores)."""
        with _sessions()() as session:
            if g.principal.role != "frontdesk":
                caseload.visible_client(session, g.principal, client_id)
            return session.scalars(
                select(Assignment).where(Assignment.client_id == client_id).order_by(Assignment.issued_at)
            ).all()


@api.route("/alerts")
class Alerts(MethodView):
    decorators = [require(*CLINICAL)]

    @api.arguments(
        Schema.from_dict(
            {"status": fields.String(load_default="open", validate=validate.OneOf(["open", "all"]))}, name="AlertQuery"
        ),
        location="query",
    )
    @api.response(200, AlertOut(many=True))
    def get(self, args):
        with _sessions()() as session:
            stmt = select(Alert).order_by(Alert.opened_at.desc())
            if args["status"] == "open":
                stmt = stmt.where(Alert.status != "resolved")
            if g.principal.role == "clinician":
                stmt = stmt.where(Alert.clinician_id == g.principal.clinician_id)
            return sorted(session.scalars(stmt).all(), key=lambda a: caseload.SEVERITY_RANK[a.severity])


@api.route("/alerts/<alert_id>/acknowledge", methods=["POST"])
@require(*CLINICAL)
@api.response(200, AlertOut)
def acknowledge_alert(alert_id):
    with _sessions()() as session, session.begin():
        alert = caseload.visible_alert(session, g.principal, alert_id)
        return alerts.acknowledge(session, alert, g.principal.subject, utcnow())


@api.route("/alerts/<alert_id>/resolve", methods=["POST"])
@require(*CLINICAL)
@api.arguments(ResolveIn)
@api.response(200, AlertOut)
def resolve_alert(data, alert_id):
    with _sessions()() as session, session.begin():
        alert = caseload.visible_alert(session, g.principal, alert_id)
        return alerts.resolve(session, alert, g.principal.subject, data["note"], utcnow())


def _plan_out(session, scope: str) -> dict:
    """The plan in force for ``scope`` (a client id, or "practice")."""
    from services.feedback.handlers import plan_for

    return {**plan_for(session, scope, current_app.extensions["feedback_settings"]).as_dict(), "scope": scope}


def _save_plan(session, scope: str, data: dict) -> dict:
    session.merge(MeasurementPlan(scope=scope, updated_by=g.principal.subject, **data))
    session.flush()
    return _plan_out(session, scope)


@api.route("/plans/practice")
class PracticePlan(MethodView):
    decorators = [require(*CLINICAL)]

    @api.response(200, PlanSchema)
    def get(self):
        """The practice's default measurement plan."""
        with _sessions()() as session:
            return _plan_out(session, "practice")

    @api.arguments(PlanSchema)
    @api.response(200, PlanSchema)
    def put(self, data):
        if g.principal.role not in ("supervisor", "admin"):
            abort(403)
        with _sessions()() as session, session.begin():
            return _save_plan(session, "practice", data)


@api.route("/clients/<client_id>/plan")
class ClientPlan(MethodView):
    decorators = [require(*CLINICAL)]

    @api.response(200, PlanSchema)
    def get(self, client_id):
        """The plan in force for this client (their own, else the practice's)."""
        with _sessions()() as session:
            caseload.visible_client(session, g.principal, client_id)
            return _plan_out(session, client_id)

    @api.arguments(PlanSchema)
    @api.response(200, PlanSchema)
    def put(self, data, client_id):
        with _sessions()() as session, session.begin():
            caseload.visible_client(session, g.principal, client_id)
            return _save_plan(session, client_id, data)

    @api.response(204)
    def delete(self, client_id):
        """Back to the practice plan."""
        with _sessions()() as session, session.begin():
            caseload.visible_client(session, g.principal, client_id)
            row = session.get(MeasurementPlan, client_id)
            if row is not None:
                session.delete(row)


# -- pages ---------------------------------------------------------------------------------------------------


guard_staff_pages(pages, read=CLINICAL, write=CLINICAL, signin_template="dashboard/signin.html")


@pages.get("/dashboard")
def home():
    with _sessions()() as session:
        rows = caseload.caseload(session, g.principal)
    return render_template("dashboard/caseload.html", rows=rows)


@pages.get("/dashboard/clients/<client_id>")
def client_page(client_id):
    with _sessions()() as session:
        client = caseload.visible_client(session, g.principal, client_id)
        charts = []
        used = session.scalars(
            select(caseload.Response.measure).where(caseload.Response.client_id == client.id).distinct()
        ).all()
        for measure_id in sorted(used):
            found = caseload.progress(session, client, measure_id)
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
            charts.append({"measure": m, "svg": Markup(svg), "responses": found["responses"]})  # noqa: S704
        client_alerts = session.scalars(
            select(Alert).where(Alert.client_id == client.id).order_by(Alert.opened_at.desc())
        ).all()
    return render_template("dashboard/client.html", client=client, charts=charts, alerts=client_alerts)


@pages.get("/alerts/<alert_id>")
def alert_page(alert_id):
    with _sessions()() as session:
        alert = caseload.visible_alert(session, g.principal, alert_id)
        client = session.get(caseload.ClientRecord, alert.client_id)
    return render_template("dashboard/alert.html", alert=alert, client=client)


@pages.post("/alerts/<alert_id>/<action>")
def alert_action(alert_id, action):
    with _sessions()() as session, session.begin():
        alert = caseload.visible_alert(session, g.principal, alert_id)
        if action == "acknowledge":
            alerts.acknowledge(session, alert, g.principal.subject, utcnow())
        elif action == "resolve":
            note = request.form.get("note", "").strip()
            if len(note) < 3:
                client = session.get(caseload.ClientRecord, alert.client_id)
                return render_template(
                    "dashboard/alert.html", alert=alert, client=client, error="Write a short note on what was done."
                ), 422
            alerts.resolve(session, alert, g.principal.subject, note, utcnow())
        else:
            abort(404)
    return redirect(url_for("dashboard.alert_page", alert_id=alert_id), code=303)
