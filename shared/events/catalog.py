"""The catalog: which service emits each event type, at which versions, with which schema.

Types are named ``attune.<source>.<name>`` and each source service publishes to its own topic
``attune.<source>``; the version travels in the ``dataversion`` envelope attribute.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError

from shared.events import schemas as s
from shared.events.envelope import Event, MalformedEvent


class UnknownEventType(MalformedEvent):
    """No schema for this type and version: the consumer cannot know what it means."""


@dataclass(frozen=True)
class EventSpec:
    source: str
    name: str
    version: int
    schema: type[Schema]

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

    def load_incoming(self, data: dict) -> dict:
        """Tolerant of added fields; anything else wrong makes the event malformed."""
        try:
            return self.schema(unknown=EXCLUDE).load(data)
        except ValidationError as exc:
            raise MalformedEvent(f"{self.type} v{self.version} payload invalid: {exc.messages}") from exc


def namespace() -> str:
    """Topic and consumer-group prefix: ``attune`` unless a deployment (or a test) sets its own."""
    return os.environ.get("ATTUNE_KAFKA_NAMESPACE", "attune")


def topic_for(source: str) -> str:
    return f"{namespace()}.{source}"


def dead_letter_topic(group: str) -> str:
    return f"{namespace()}.dlq.{group}"


def group_id(service: str) -> str:
    return f"{namespace()}.{service}"


_SPECS = [
    EventSpec("scheduling", "client.registered", 1, s.ClientV1),
    EventSpec("scheduling", "client.updated", 1, s.ClientV1),
    EventSpec("scheduling", "client.discharged", 1, s.ClientDischargedV1),
    EventSpec("scheduling", "clinician.registered", 1, s.ClinicianV1),
    EventSpec("scheduling", "clinician.updated", 1, s.ClinicianV1),
    EventSpec("scheduling", "appointment.booked", 1, s.AppointmentBookedV1),
    EventSpec("scheduling", "appointment.rescheduled", 1, s.AppointmentRescheduledV1),
    EventSpec("scheduling", "appointment.cancelled", 1, s.AppointmentCancelledV1),
    EventSpec("scheduling", "appointment.no_show", 1, s.AppointmentNoShowV1),
    EventSpec("scheduling", "appointment.confirmation_changed", 1, s.AppointmentConfirmationV1),
    EventSpec("scheduling", "appointment.checked_in", 1, s.AppointmentCheckedInV1),
    EventSpec("scheduling", "session.completed", 1, s.SessionCompletedV1),
    EventSpec("feedback", "questionnaire.issued", 1, s.QuestionnaireIssuedV1),
    EventSpec("feedback", "questionnaire.completed", 1, s.QuestionnaireCompletedV1),
    EventSpec("feedback", "questionnaire.expired", 1, s.QuestionnaireExpiredV1),
    EventSpec("feedback", "alert.raised", 1, s.AlertRaisedV1),
    EventSpec("feedback", "alert.escalated", 1, s.AlertEscalatedV1),
    EventSpec("feedback", "alert.resolved", 1, s.AlertResolvedV1),
    EventSpec("notifications", "notification.sent", 1, s.NotificationOutcomeV1),
    EventSpec("notifications", "notification.failed", 1, s.NotificationOutcomeV1),
]

CATALOG: dict[tuple[str, int], EventSpec] = {(spec.type, spec.version): spec for spec in _SPECS}
_BY_NAME: dict[str, EventSpec] = {}
for _spec in _SPECS:  # the newest version of each short name is what producers emit
    if _spec.name not in _BY_NAME or _BY_NAME[_spec.name].version < _spec.version:
        _BY_NAME[_spec.name] = _spec

SOURCES = sorted({spec.source for spec in _SPECS})


def spec_for(event: Event) -> EventSpec:
    try:
        return CATALOG[(event.type, event.dataversion)]
    except KeyError:
        raise UnknownEventType(f"no schema for {event.type} v{event.dataversion}") from None


def spec_named(name: str) -> EventSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no event named {name!r} in the catalog") from None


def event_topics() -> list[str]:
    return [topic_for(source) for source in SOURCES]


def dead_letter_topics() -> list[str]:
    return [dead_letter_topic(group) for group in SOURCES]


def ensure_all_topics(bootstrap: str, partitions: int = 6, replication: int = 1) -> None:
    """Create the event topics (keyed by client, several partitions) and one-partition dead-letter topics."""
    from shared.messaging.kafka_clients import ensure_topics

    ensure_topics(bootstrap, event_topics(), partitions, replication)
    ensure_topics(bootstrap, dead_letter_topics(), 1, replication)
