"""HTTP API schemas for scheduling (OpenAPI is generated from these)."""

from __future__ import annotations

from zoneinfo import available_timezones

import phonenumbers
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.scheduling.booking import STATUSES, validate_working_hours
from shared.statuses import ClientStatus

_TIMEZONES = frozenset(available_timezones())


def _tz(**kw):
    return fields.String(validate=validate.OneOf(sorted(_TIMEZONES), error="Not a known IANA timezone."), **kw)


class PhoneNumber(fields.String):
    """A phone number, stored and sent on in E.164 (+442079460000). A number without a country code is read as
    one of the practice's country (``default_region``, set from ``PRACTICE_PHONE_REGION`` by the app)."""

    default_region = "GB"

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            number = phonenumbers.parse(text, None if text.startswith("+") else self.default_region)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValidationError("Not a valid phone number: give it with its country code, e.g. +44 20 7946 0000.")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _can_text(phone: str) -> bool:
    """Whether the number can receive text messages (a mobile, or a number that may be one)."""
    kind = phonenumbers.number_type(phonenumbers.parse(phone))
    return kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.PAGER,
    )


def check_text_messages(data: dict) -> None:
    """Consent to texts, or texts as the preferred channel, need a number that can receive them."""
    wants_texts = data.get("consent_sms") or data.get("preferred_channel") == "sms"
    if not wants_texts:
        return
    field = "consent_sms" if data.get("consent_sms") else "preferred_channel"
    if not data.get("phone"):
        raise ValidationError("Text messages need a mobile number.", field)
    if not _can_text(data["phone"]):
        raise ValidationError("That number cannot receive text messages: give a mobile number.", "phone")


class WorkingHoursField(fields.Dict):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            return validate_working_hours(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class ClinicianIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    email = fields.Email(required=True)
    timezone = _tz(load_default="Europe/London")
    working_hours = WorkingHoursField(load_default=dict, metadata={"example": {"mon": [["09:00", "17:00"]]}})
    accepting_new_clients = fields.Boolean(load_default=True)
    supervisor_id = fields.String(load_default=None, allow_none=True, metadata={"description": "A clinician id"})


class ClinicianPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    timezone = _tz()
    working_hours = WorkingHoursField()
    accepting_new_clients = fields.Boolean()
    active = fields.Boolean()
    supervisor_id = fields.String(allow_none=True)


class ClinicianOut(Schema):
    id = fields.String()
    name = fields.String()
    email = fields.Email()
    timezone = fields.String()
    working_hours = fields.Dict()
    accepting_new_clients = fields.Boolean()
    active = fields.Boolean()
    supervisor_id = fields.String(allow_none=True)


class TimeOffIn(Schema):
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    label = fields.String(load_default="Unavailable", validate=validate.Length(max=120))

    @validates_schema
    def _order(self, data, **_):
        if data["ends_at"] <= data["starts_at"]:
            raise ValidationError("Must be after starts_at.", "ends_at")


class TimeOffOut(TimeOffIn):
    id = fields.String()
    clinician_id = fields.String()


class ClientIn(Schema):
    legal_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    preferred_name = fields.String(load_default=None, validate=validate.Length(max=120))
    date_of_birth = fields.Date(load_default=None, allow_none=True)
    email = fields.Email(load_default=None, allow_none=True)
    phone = PhoneNumber(load_default=None, allow_none=True, validate=validate.Length(max=40))
    preferred_channel = fields.String(load_default="email", validate=validate.OneOf(["email", "sms", "phone"]))
    timezone = _tz(load_default="Europe/London")
    consent_email = fields.Boolean(load_default=False, metadata={"description": "Explicit consent to email."})
    consent_sms = fields.Boolean(
        load_default=False, metadata={"description": "Explicit consent to text messages (a separate consent)."}
    )
    clinician_id = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _consent_needs_email(self, data, **_):
        if data.get("consent_email") and not data.get("email"):
            raise ValidationError("Consent to email needs an email address.", "consent_email")
        check_text_messages(data)


class ClientPatch(Schema):
    legal_name = fields.String(validate=validate.Length(min=1, max=120))
    preferred_name = fields.String(validate=validate.Length(min=1, max=120))
    date_of_birth = fields.Date(allow_none=True)
    email = fields.Email(allow_none=True)
    phone = PhoneNumber(allow_none=True, validate=validate.Length(max=40))
    preferred_channel = fields.String(validate=validate.OneOf(["email", "sms", "phone"]))
    timezone = _tz()
    consent_email = fields.Boolean()
    consent_sms = fields.Boolean(metadata={"description": "Consent to text messages (separate from email)."})
    consent_confirmed = fields.String(
        validate=validate.OneOf(["in_person", "phone", "writing"]),
        metadata={
            "description": "How the client confirmed: needed to give email consent again after it was withdrawn."
        },
    )
    consent_reason = fields.String(
        validate=validate.Length(min=3, max=300),
        metadata={"description": "Why: needed to give email consent again after it was withdrawn."},
    )
    clinician_id = fields.String(allow_none=True)
    status = fields.String(
        validate=validate.OneOf([ClientStatus.ACTIVE]), metadata={"description": "Readmit a client."}
    )


class ClientOut(Schema):
    id = fields.String()
    legal_name = fields.String()
    preferred_name = fields.String()
    date_of_birth = fields.Date(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    preferred_channel = fields.String()
    timezone = fields.String()
    consent_email = fields.Boolean()
    consent_email_at = fields.AwareDateTime(allow_none=True)
    consent_sms = fields.Boolean()
    consent_sms_at = fields.AwareDateTime(allow_none=True)
    clinician_id = fields.String(allow_none=True)
    status = fields.String()


class ClientQuery(Schema):
    q = fields.String(load_default=None, metadata={"description": "Search in legal and preferred names, email."})
    clinician_id = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(list(ClientStatus)))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AppointmentTypeIn(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_-]{1,39}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    minutes = fields.Integer(required=True, validate=validate.Range(min=5, max=8 * 60))
    modality = fields.String(load_default="in_person", validate=validate.OneOf(["in_person", "telehealth"]))
    counts_as_session = fields.Boolean(load_default=True)


class RoomIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))


class RoomOut(RoomIn):
    id = fields.String()
    active = fields.Boolean()


class AppointmentIn(Schema):
    client_id = fields.String(required=True)
    clinician_id = fields.String(required=True)
    type_id = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(load_default=None, metadata={"description": "Defaults to the type's length."})
    room_id = fields.String(load_default=None, allow_none=True)
    modality = fields.String(load_default=None, validate=validate.OneOf(["in_person", "telehealth"]))
    telehealth_url = fields.Url(
        load_default=None, allow_none=True, schemes={"https"}, validate=validate.Length(max=500)
    )
    front_desk_note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    override_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=3, max=500))

    @validates_schema
    def _order(self, data, **_):
        if data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("Must be after starts_at.", "ends_at")


class AppointmentOut(Schema):
    id = fields.String()
    client_id = fields.String()
    clinician_id = fields.String()
    room_id = fields.String(allow_none=True)
    type_id = fields.String()
    episode_id = fields.String(allow_none=True)
    series_id = fields.String(allow_none=True)
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    modality = fields.String()
    telehealth_url = fields.String(allow_none=True)
    front_desk_note = fields.String(allow_none=True)
    status = fields.String()
    confirmation = fields.String()
    cancelled_by = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    late_cancel = fields.Boolean()
    override_reason = fields.String(allow_none=True)
    checked_in_at = fields.AwareDateTime(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)
    session_number = fields.Integer(allow_none=True)
    version = fields.Integer()


class AppointmentQuery(Schema):
    clinician_id = fields.String(load_default=None)
    client_id = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    start = fields.AwareDateTime(load_default=None, data_key="from")
    end = fields.AwareDateTime(load_default=None, data_key="to")
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class RescheduleIn(Schema):
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(load_default=None)
    room_id = fields.String(load_default=None, allow_none=True)
    override_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=3, max=500))


class VideoLinkIn(Schema):
    telehealth_url = fields.Url(
        required=True,
        allow_none=True,
        schemes={"https"},
        validate=validate.Length(max=500),
        metadata={"description": "The session's video link (https); null removes it."},
    )


class CancelIn(Schema):
    cancelled_by = fields.String(required=True, validate=validate.OneOf(["client", "clinician", "practice"]))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class Empty(Schema):
    pass


def page_of(schema_cls: type[Schema]) -> type[Schema]:
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(schema_cls)),
            "page": fields.Integer(),
            "page_size": fields.Integer(),
            "total": fields.Integer(),
        },
        name=f"{schema_cls.__name__}Page",
    )


class DeliveryProblemOut(Schema):
    id = fields.String()
    client_id = fields.String()
    template = fields.String()
    error = fields.String(allow_none=True)
    failed_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolution_note = fields.String(allow_none=True)


class ResolveProblemIn(Schema):
    note = fields.String(required=True, validate=validate.Length(min=3, max=500))


class ResumeRemindersIn(Schema):
    confirmed = fields.String(
        required=True,
        validate=validate.OneOf(["in_person", "phone", "writing"]),
        metadata={"description": "How the client confirmed they want appointment reminders again."},
    )
    reason = fields.String(required=True, validate=validate.Length(min=3, max=300))


class ConsentChangeOut(Schema):
    channel = fields.String(
        metadata={"description": "email (questionnaires by email), sms (text messages) or reminders"}
    )
    given = fields.Boolean()
    at = fields.AwareDateTime()
    by = fields.String(
        metadata={"description": "the staff member's subject, or client (the unsubscribe link, a STOP reply)"}
    )
    how = fields.String()
    reason = fields.String(allow_none=True)


class RuleIn(Schema):
    freq = fields.String(
        required=True,
        validate=validate.OneOf(["weekly", "monthly"]),
        metadata={
            "description": "weekly (every `interval` weeks) or monthly by weekday "
            "(e.g. the 2nd or the last Tuesday, from the first date)"
        },
    )
    interval = fields.Integer(load_default=1, validate=validate.Range(min=1, max=52))
    count = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=300))
    until = fields.AwareDateTime(load_default=None, allow_none=True)

    @validates_schema
    def _one_end(self, data, **_):
        if (data.get("count") is None) == (data.get("until") is None):
            raise ValidationError("Give either count or until.", "count")


class SeriesIn(AppointmentIn):
    rule = fields.Nested(RuleIn, required=True)
    on_conflict = fields.String(
        load_default="none",
        validate=validate.OneOf(["none", "book_rest"]),
        metadata={
            "description": "none: book nothing if any occurrence conflicts; "
            "book_rest: book the others and report the conflicts"
        },
    )


class OccurrenceOut(Schema):
    starts_at = fields.String()
    ends_at = fields.String()
    ok = fields.Boolean()
    problem = fields.String(allow_none=True)
    conflicts = fields.List(fields.Dict())


class SeriesOut(Schema):
    series_id = fields.String()
    booked = fields.List(fields.Nested(AppointmentOut))
    skipped = fields.List(fields.Nested(OccurrenceOut))


class SeriesRescheduleIn(RescheduleIn):
    scope = fields.String(required=True, validate=validate.OneOf(["this", "this_and_following", "all"]))


class SeriesCancelIn(CancelIn):
    scope = fields.String(required=True, validate=validate.OneOf(["this", "this_and_following", "all"]))


class AvailabilityQuery(Schema):
    clinician_id = fields.List(
        fields.String(),
        load_default=list,
        metadata={"description": "Repeat for several; none means every active clinician."},
    )
    type_id = fields.String(required=True)
    start = fields.AwareDateTime(required=True, data_key="from")
    end = fields.AwareDateTime(required=True, data_key="to")
    room_id = fields.String(load_default=None)
    step_minutes = fields.Integer(load_default=15, validate=validate.OneOf([5, 10, 15, 30, 60]))


class FreeSlotOut(Schema):
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()


class AvailabilityOut(Schema):
    clinician_id = fields.String()
    slots = fields.List(fields.Nested(FreeSlotOut))
