"""Marshmallow schemas of feedback's JSON API (the OpenAPI document is generated from them)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.feedback import measures


class AlertOut(Schema):
    id = fields.String()
    client_id = fields.String()
    clinician_id = fields.String()
    rule = fields.String()
    measure = fields.String()
    severity = fields.String()
    status = fields.String()
    explanation = fields.String()
    course_model = fields.String(
        allow_none=True, metadata={"description": "The expected-course model the scores were judged against"}
    )
    opened_at = fields.AwareDateTime()
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    acknowledged_by_clinician = fields.String(allow_none=True, metadata={"description": "A clinician id"})
    acknowledgement_note = fields.String(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by_clinician = fields.String(allow_none=True, metadata={"description": "A clinician id"})
    resolution_note = fields.String(allow_none=True)
    escalated_at = fields.AwareDateTime(allow_none=True)
    therapist_unreached_at = fields.AwareDateTime(allow_none=True)


class CaseloadOut(Schema):
    client_id = fields.String(attribute="client.id")
    preferred_name = fields.String(attribute="client.preferred_name")
    status = fields.String()
    last_scores = fields.Dict()
    questionnaires = fields.Integer()
    attended = fields.Integer(metadata={"description": "Sessions attended this episode"})
    last_questionnaire = fields.AwareDateTime(allow_none=True)
    open_alerts = fields.List(fields.Nested(AlertOut))


class PointOut(Schema):
    n = fields.Integer()
    total = fields.Float()
    label = fields.String()
    alert = fields.String(allow_none=True)


class ChangeOut(Schema):
    total = fields.Float()
    from_baseline = fields.Float(allow_none=True)
    from_previous = fields.Float(allow_none=True)


class ProgressOut(Schema):
    measure = fields.String()
    points = fields.List(fields.Nested(PointOut))
    expected = fields.List(fields.Dict())
    changes = fields.List(fields.Nested(ChangeOut), metadata={"description": "One per point, in order"})
    change_class = fields.String(
        allow_none=True,
        metadata={"description": "Jacobson-Truax: recovered, improved, no_reliable_change, deteriorated"},
    )


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
    on_tablet = fields.Boolean(attribute="kiosk_id", metadata={"description": "Handed to a practice tablet"})
    session_number = fields.Integer(allow_none=True)
    issued_at = fields.AwareDateTime()
    status = fields.String()
    skip_reason = fields.String(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)


class StartQuestionnaireIn(Schema):
    measures = fields.List(
        fields.String(),
        load_default=None,
        validate=lambda v: _known_measures(v) or True,
        metadata={"description": "Default: the client's plan for sessions"},
    )
    kiosk_id = fields.String(
        load_default=None, allow_none=True, metadata={"description": "Hand it to this practice tablet; else send it"}
    )


class KioskIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=80))


class KioskOut(Schema):
    id = fields.String()
    name = fields.String()
    last_seen_at = fields.AwareDateTime(allow_none=True)
    url = fields.String(metadata={"description": "The tablet's link, shown once when it is registered"})


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


class BreakGlassIn(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=10, max=500),
        metadata={"description": "Why you need this client's record (kept, and shown to their clinician)."},
    )


class BreakGlassOut(Schema):
    id = fields.String()
    subject = fields.String()
    clinician_id = fields.String(allow_none=True)
    client_id = fields.String()
    reason = fields.String()
    granted_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()


class ReportQuery(Schema):
    start = fields.Date(load_default=None, metadata={"description": "first day (UTC); default: 90 days ago"})
    end = fields.Date(load_default=None, metadata={"description": "last day, inclusive (UTC); default: today"})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))

    @validates_schema
    def _in_order(self, data, **_):
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ValidationError("The first day must not be after the last.", "start")
