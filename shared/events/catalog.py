"""The catalog: every event type and version, which service emits it, and its schema: the one contract.

Types are named ``attune.<source>.<name>`` and each source service publishes to its own topic
``<namespace>.<source>``; the version travels in the ``dataversion`` envelope attribute.

Each ``EventSpec`` is a module-level constant (``SESSION_COMPLETED``), so producers emit and consumers register
handlers by the spec itself, never by a hand-typed string: a typo is an ``AttributeError`` at import, not an
event silently ignored. A consumed payload loads into the spec's frozen dataclass (``event.data.client_id``),
generated from the same marshmallow schema so the field list exists once.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields

from shared.config import kafka_namespace
from shared.events import schemas as s
from shared.events.envelope import Event, MalformedEvent


class UnknownEventType(MalformedEvent):
    """No schema for this type and version: the consumer cannot know what it means."""


_PYTHON_TYPES = {
    fields.String: str,
    fields.Email: str,
    fields.Url: str,
    fields.Integer: int,
    fields.Float: float,
    fields.Boolean: bool,
    fields.AwareDateTime: datetime,
    fields.Dict: dict,
    fields.List: list,
}


def _python_type(field: fields.Field) -> Any:
    kind = next((py for mm, py in _PYTHON_TYPES.items() if isinstance(field, mm)), Any)
    return kind | None if field.allow_none or not field.required else kind


def data_class_for(name: str, version: int, schema: type[Schema]) -> type:
    """A frozen dataclass with the schema's fields (``client.registered`` v1 -> ``ClientRegistered``)."""
    class_name = "".join(part.capitalize() for part in name.replace(".", "_").split("_"))
    class_name += f"V{version}" if version > 1 else ""
    declared = schema._declared_fields
    members = [
        (key, _python_type(f)) if f.required else (key, _python_type(f), dataclasses.field(default=None))
        for key, f in declared.items()
    ]
    cls = dataclasses.make_dataclass(class_name, members, frozen=True, kw_only=True)
    cls.__module__ = __name__
    return cls


@dataclasses.dataclass(frozen=True)
class EventSpec:
    source: str
    name: str
    version: int
    schema: type[Schema]
    # Entity state (a client, a clinician): also published, keyed by entity, to the compacted directory topic.
    directory: bool = dataclasses.field(default=False, compare=False)
    data_class: type = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "data_class", data_class_for(self.name, self.version, self.schema))

    @property
    def type(self) -> str:
        return f"attune.{self.source}.{self.name}"

    @property
    def topic(self) -> str:
        return topic_for(self.source)

    def validate_outgoing(self, data: dict) -> dict:
        """Strict: a producer that sends a field the contract lacks is a bug, found before it ships."""
        schema = self.schema(unknown=RAISE)
        extra = sorted(set(data) - set(schema.fields))
        if extra:
            raise ValidationError({name: ["Unknown field."] for name in extra})
        wire = schema.dump(data)  # datetimes -> ISO strings, as they travel
        schema.load(wire)  # raises ValidationError naming each bad field
        return wire

    def load_incoming(self, data: dict) -> Any:
        """Tolerant of added fields; anything else wrong makes the event malformed. Returns ``data_class``."""
        try:
            loaded = self.schema(unknown=EXCLUDE).load(data)
        except ValidationError as exc:
            raise MalformedEvent(f"{self.type} v{self.version} payload invalid: {exc.messages}") from exc
        return self.data_class(**loaded)


def topic_for(source: str) -> str:
    return f"{kafka_namespace()}.{source}"


def directory_topic(source: str) -> str:
    """A compacted topic with the latest state of every entity ``source`` owns (clients, clinicians)."""
    return f"{kafka_namespace()}.{source}.directory"


def dead_letter_topic(group: str) -> str:
    return f"{kafka_namespace()}.dlq.{group}"


def group_id(service: str) -> str:
    return f"{kafka_namespace()}.{service}"


# --- scheduling ---
CLIENT_REGISTERED = EventSpec("scheduling", "client.registered", 1, s.ClientV1, directory=True)
CLIENT_UPDATED = EventSpec("scheduling", "client.updated", 1, s.ClientV1, directory=True)
CLIENT_DISCHARGED = EventSpec("scheduling", "client.discharged", 1, s.ClientDischargedV1, directory=True)
CLINICIAN_REGISTERED = EventSpec("scheduling", "clinician.registered", 1, s.ClinicianV1, directory=True)
CLINICIAN_UPDATED = EventSpec("scheduling", "clinician.updated", 1, s.ClinicianV1, directory=True)
APPOINTMENT_BOOKED = EventSpec("scheduling", "appointment.booked", 1, s.AppointmentBookedV1)
APPOINTMENT_RESCHEDULED = EventSpec("scheduling", "appointment.rescheduled", 1, s.AppointmentRescheduledV1)
APPOINTMENT_DETAILS_CHANGED = EventSpec("scheduling", "appointment.details_changed", 1, s.AppointmentDetailsChangedV1)
APPOINTMENT_CANCELLED = EventSpec("scheduling", "appointment.cancelled", 1, s.AppointmentCancelledV1)
APPOINTMENT_NO_SHOW = EventSpec("scheduling", "appointment.no_show", 1, s.AppointmentNoShowV1)
APPOINTMENT_CONFIRMATION_CHANGED = EventSpec(
    "scheduling", "appointment.confirmation_changed", 1, s.AppointmentConfirmationV1
)
APPOINTMENT_CHECKED_IN = EventSpec("scheduling", "appointment.checked_in", 1, s.AppointmentCheckedInV1)
SESSION_COMPLETED = EventSpec("scheduling", "session.completed", 1, s.SessionCompletedV1)
CLIENT_REMINDERS_RESUMED = EventSpec("scheduling", "client.reminders_resumed", 1, s.ClientRemindersResumedV1)
# --- feedback ---
QUESTIONNAIRE_ISSUED = EventSpec("feedback", "questionnaire.issued", 1, s.QuestionnaireIssuedV1)
QUESTIONNAIRE_COMPLETED = EventSpec("feedback", "questionnaire.completed", 1, s.QuestionnaireCompletedV1)
QUESTIONNAIRE_EXPIRED = EventSpec("feedback", "questionnaire.expired", 1, s.QuestionnaireExpiredV1)
QUESTIONNAIRE_SKIPPED = EventSpec("feedback", "questionnaire.skipped", 1, s.QuestionnaireSkippedV1)
QUESTIONNAIRE_OPENED = EventSpec("feedback", "questionnaire.opened", 1, s.QuestionnaireOpenedV1)
PROGRESS_SHARED = EventSpec("feedback", "progress.shared", 1, s.ProgressSharedV1)
ALERT_RAISED = EventSpec("feedback", "alert.raised", 1, s.AlertRaisedV1)
ALERT_ESCALATED = EventSpec("feedback", "alert.escalated", 1, s.AlertEscalatedV1)
ALERT_RESOLVED = EventSpec("feedback", "alert.resolved", 1, s.AlertResolvedV1)
# --- notifications ---
NOTIFICATION_SENT = EventSpec("notifications", "notification.sent", 1, s.NotificationOutcomeV1)
NOTIFICATION_FAILED = EventSpec("notifications", "notification.failed", 1, s.NotificationOutcomeV1)
NOTIFICATION_CANCELLED = EventSpec("notifications", "notification.cancelled", 1, s.NotificationOutcomeV1)
CLIENT_OPTED_OUT = EventSpec("notifications", "client.opted_out", 1, s.ClientOptedOutV1)
CLIENT_TEXTS_STOPPED = EventSpec("notifications", "client.texts_stopped", 1, s.ClientTextsStoppedV1)

ALL_SPECS: tuple[EventSpec, ...] = tuple(v for v in list(globals().values()) if isinstance(v, EventSpec))
CATALOG: dict[tuple[str, int], EventSpec] = {(spec.type, spec.version): spec for spec in ALL_SPECS}
SOURCES = sorted({spec.source for spec in ALL_SPECS})


def spec_for(event: Event) -> EventSpec:
    try:
        return CATALOG[(event.type, event.dataversion)]
    except KeyError:
        raise UnknownEventType(f"no schema for {event.type} v{event.dataversion}") from None


def event_topics() -> list[str]:
    return [topic_for(source) for source in SOURCES]


def directory_topics() -> list[str]:
    return sorted({directory_topic(spec.source) for spec in ALL_SPECS if spec.directory})


def dead_letter_topics() -> list[str]:
    return [dead_letter_topic(group) for group in SOURCES]


def ensure_all_topics(bootstrap: str, partitions: int = 6, replication: int = 1, min_insync: int = 1) -> None:
    """Create the event topics (keyed by client, several partitions), the compacted directory topics (keyed by
    entity) and one-partition dead-letter topics, with the replication the deployment asks for."""
    from shared.messaging.kafka_clients import ensure_topics

    ensure_topics(bootstrap, event_topics(), partitions, replication, min_insync)
    ensure_topics(bootstrap, directory_topics(), partitions, replication, min_insync, compacted=True)
    ensure_topics(bootstrap, dead_letter_topics(), 1, replication, min_insync)
