"""One marshmallow schema per event type and version: the only definition of each contract.

Producers dump+load strictly (unknown fields raise), consumers load with ``unknown=EXCLUDE`` so a producer
may add a field without breaking them. Removing or renaming a field means a new version (``...V2``).
Events carry ids and what consumers need, never front-desk notes, free-text reasons or item answers.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from shared.statuses import ClientStatus, Severity


class EventData(Schema):
    class Meta:
        unknown = RAISE


def _id(**kw):
    return fields.String(required=True, validate=validate.Length(min=1, max=64), **kw)


def _opt_id():
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))


def _version():
    """The entity's version at the owning service (+1 per change): projections ignore anything older.
    Added compatibly: events from before it load as None and always apply."""
    return fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))


def _when(required=True):
    if required:
        return fields.AwareDateTime(required=True, format="iso")
    return fields.AwareDateTime(load_default=None, allow_none=True, format="iso")


# --- scheduling --------------------------------------------------------------------------------------------


class ClientV1(EventData):
    """client.registered / client.updated: the contact details notifications needs (and nothing clinical)."""

    client_id = _id()
    clinician_id = _opt_id()
    episode_id = _opt_id()
    preferred_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    email = fields.Email(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    preferred_channel = fields.String(load_default="email", validate=validate.OneOf(["email", "sms", "phone"]))
    timezone = fields.String(required=True)
    consent_email = fields.Boolean(required=True)
    consent_email_at = _when(required=False)
    # added compatibly: older events load as no consent to texts
    consent_sms = fields.Boolean(load_default=False)
    consent_sms_at = _when(required=False)
    status = fields.String(required=True, validate=validate.OneOf(list(ClientStatus)))
    version = _version()


class ClientDischargedV1(EventData):
    client_id = _id()
    episode_id = _opt_id()
    discharged_at = _when()
    version = _version()


class ClientRemindersResumedV1(EventData):
    """The front desk turned appointment reminders back on after the client unsubscribed, with the client's
    confirmation. The reason and how the client confirmed stay in scheduling's consent trail."""

    client_id = _id()
    resumed_at = _when()


class ClinicianV1(EventData):
    clinician_id = _id()
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    email = fields.Email(required=True)
    timezone = fields.String(required=True)
    active = fields.Boolean(required=True)
    accepting_new_clients = fields.Boolean(load_default=True)
    supervisor_id = _opt_id()  # added compatibly: older events load as None
    version = _version()


class AppointmentBookedV1(EventData):
    appointment_id = _id()
    client_id = _id()
    clinician_id = _id()
    episode_id = _opt_id()
    series_id = _opt_id()
    room_id = _opt_id()
    appointment_type = fields.String(required=True)
    modality = fields.String(required=True, validate=validate.OneOf(["in_person", "telehealth"]))
    starts_at = _when()
    ends_at = _when()
    sequence = fields.Integer(load_default=0)
    # The video link of a telehealth appointment, sealed with ATTUNE_LINK_KEY (a link to join the session is
    # a credential); added compatibly: older events load as None.
    sealed_telehealth_url = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    # False for a booking brought in by an import: no confirmation message (the client knows the time already);
    # added compatibly: older events load as True.
    announce = fields.Boolean(load_default=True)


class AppointmentDetailsChangedV1(AppointmentBookedV1):
    """Something the client was told about a booked appointment changed, other than its time (the video link)."""


class AppointmentRescheduledV1(AppointmentBookedV1):
    previous_starts_at = _when()
    previous_ends_at = _when()


class AppointmentCancelledV1(EventData):
    appointment_id = _id()
    client_id = _id()
    clinician_id = _id()
    starts_at = _when()
    cancelled_by = fields.String(required=True, validate=validate.OneOf(["client", "clinician", "practice"]))
    late_cancel = fields.Boolean(required=True)
    sequence = fields.Integer(load_default=0)


class AppointmentConfirmationV1(EventData):
    """The client answered a reminder's link: coming (confirmed) or not (declined)."""

    appointment_id = _id()
    client_id = _id()
    clinician_id = _id()
    confirmation = fields.String(required=True, validate=validate.OneOf(["confirmed", "declined"]))


class AppointmentNoShowV1(EventData):
    appointment_id = _id()
    client_id = _id()
    clinician_id = _id()
    starts_at = _when()


class AppointmentCheckedInV1(EventData):
    appointment_id = _id()
    client_id = _id()
    clinician_id = _id()
    checked_in_at = _when()


class SessionCompletedV1(EventData):
    appointment_id = _id()
    client_id = _id()
    clinician_id = _id()
    episode_id = _opt_id()
    appointment_type = fields.String(required=True)
    session_number = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    completed_at = _when()


# --- feedback ----------------------------------------------------------------------------------------------


class QuestionnaireIssuedV1(EventData):
    """The link is a single-use bearer credential: stored hashed in feedback, it travels only here and only
    sealed (``shared/sealed.py``) with a key that notifications holds. ``questionnaire_url`` (in clear) is
    read from events written before sealing and no longer written."""

    assignment_id = _id()
    client_id = _id()
    clinician_id = _id()
    measures = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    sealed_url = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^fernet:"))
    questionnaire_url = fields.Url(load_default=None, allow_none=True, require_tld=False)
    expires_at = _when()
    trigger = fields.String(required=True, validate=validate.OneOf(["intake", "session", "manual"]))
    # "kiosk": filled in on a practice tablet, nothing to send (added compatibly: older events are messages)
    delivery = fields.String(load_default="message", validate=validate.OneOf(["message", "kiosk"]))


class MeasureScoreV1(Schema):
    class Meta:
        unknown = RAISE

    measure = fields.String(required=True)
    total = fields.Float(required=True)
    band = fields.String(load_default=None, allow_none=True)
    change_from_baseline = fields.Float(load_default=None, allow_none=True)
    reliable_change = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["improved", "recovered", "no_reliable_change", "deteriorated"]),
    )


class QuestionnaireCompletedV1(EventData):
    """That a questionnaire was answered (notifications stops its reminders): no score or answer any other
    service can read (they stay behind the feedback service's login); ``sealed_record`` is for feedback alone.
    ``scores`` is read from events written before, never written."""

    assignment_id = _id()
    client_id = _id()
    clinician_id = _id()
    completed_at = _when()
    scores = fields.List(fields.Nested(MeasureScoreV1), load_default=list)
    # The responses (answers and scores) sealed with FEEDBACK_RECORD_KEY, a key no other service holds: only
    # feedback can open it, to rebuild them after a restore from backup (added compatibly).
    sealed_record = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^fernet:"))


class QuestionnaireExpiredV1(EventData):
    assignment_id = _id()
    client_id = _id()
    clinician_id = _id()
    expired_at = _when()


class ProgressSharedV1(EventData):
    """The therapist shared the client's progress report: notifications sends the link (sealed with
    ``ATTUNE_LINK_KEY``, single use, expiring). No score travels: only the link."""

    share_id = _id()
    client_id = _id()
    clinician_id = _opt_id()
    sealed_url = fields.String(required=True, validate=validate.Regexp(r"^fernet:"))
    expires_at = _when()


class QuestionnaireSkippedV1(EventData):
    """No questionnaire went out for a trigger, and why (no consent to email, or the plan's reason): the front
    desk sees it on the client's page."""

    assignment_id = _id()
    client_id = _id()
    clinician_id = _id()
    trigger = fields.String(required=True, validate=validate.OneOf(["intake", "session", "manual"]))
    reason = fields.String(required=True, validate=validate.Length(max=200))
    skipped_at = _when()


class QuestionnaireOpenedV1(EventData):
    """The client's link was first opened (a mail scanner that follows links counts too)."""

    assignment_id = _id()
    client_id = _id()
    clinician_id = _id()
    opened_at = _when()


SEVERITIES = list(Severity)
ALERT_RULES = ["risk_item", "reliable_deterioration", "off_track", "plateau", "alliance"]


class AlertRaisedV1(EventData):
    """Says that a client needs attention and how urgently, not why: the why stays behind the dashboard login."""

    alert_id = _id()
    client_id = _id()
    clinician_id = _id()
    rule = fields.String(required=True, validate=validate.OneOf(ALERT_RULES))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    raised_at = _when()
    # The why (measure, explanation), sealed with FEEDBACK_RECORD_KEY for feedback's own restore (compatible).
    sealed_detail = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^fernet:"))


class AlertEscalatedV1(AlertRaisedV1):
    previous_severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    # worse: the rule fired again with a worse value; unacknowledged: nobody acknowledged an urgent alert in time
    reason = fields.String(load_default="worse", validate=validate.OneOf(["worse", "unacknowledged"]))


class AlertResolvedV1(EventData):
    alert_id = _id()
    client_id = _id()
    clinician_id = _id()
    rule = fields.String(required=True, validate=validate.OneOf(ALERT_RULES))
    resolved_at = _when()


# --- notifications -----------------------------------------------------------------------------------------


class NotificationOutcomeV1(EventData):
    """What became of one message: sent, failed (``error_class`` says how) or cancelled before sending
    (``error_class`` says why, e.g. "no consent or no address", "unsubscribed"). Never the message's body."""

    delivery_id = _id()
    alert_id = _opt_id()  # for alert notices: which alert (feedback shows an unreached therapist on it)
    template = fields.String(required=True)
    recipient_kind = fields.String(required=True, validate=validate.OneOf(["client", "clinician", "practice"]))
    recipient_id = _id()
    source_event_id = _id()
    at = _when()
    error_class = fields.String(load_default=None, allow_none=True)
    # The ledger's key for this message (added compatibly): after a restore from backup, notifications rebuilds
    # its ledger from these events, so a message sent after the backup is never sent again.
    idempotency_key = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class ClientTextsStoppedV1(EventData):
    """The client replied STOP (or another stop word) to a text: consent to text messages ends until the
    front desk records, with the client's confirmation, that they want texts again."""

    client_id = _id()
    stopped_at = _when()


class ClientOptedOutV1(EventData):
    """The client used the unsubscribe link in a reminder: non-essential messages (reminders) stop until the
    front desk records that the client wants them again."""

    client_id = _id()
    opted_out_at = _when()
