import dataclasses
from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError

from shared.events import catalog as events
from shared.events.catalog import CATALOG, UnknownEventType, spec_for
from shared.events.envelope import Event, MalformedEvent

COMPLETED = {
    "appointment_id": "a1",
    "client_id": "c1",
    "clinician_id": "k1",
    "episode_id": None,
    "appointment_type": "individual",
    "session_number": 3,
    "completed_at": datetime(2026, 3, 29, 9, 30, tzinfo=UTC),
}


def test_envelope_round_trips_with_cloudevents_attributes_and_headers():
    spec = events.SESSION_COMPLETED
    event = Event(
        type=spec.type,
        source="scheduling",
        subject="c1",
        data=spec.validate_outgoing(COMPLETED),
        correlationid="req-1",
        causationid="e-0",
    )
    back = Event.from_json(event.to_json())
    assert back == event
    headers = dict(event.headers())
    assert headers["ce_type"] == b"attune.scheduling.session.completed"
    assert headers["ce_subject"] == b"c1" and headers["ce_correlationid"] == b"req-1"
    assert back.data["completed_at"] == "2026-03-29T09:30:00+00:00"


@pytest.mark.parametrize("raw", [b"{nope", b"[]", b'{"id": "x"}', "\u00ff".encode("latin-1")])
def test_malformed_envelopes_are_refused(raw):
    with pytest.raises(MalformedEvent):
        Event.from_json(raw)


def test_producers_are_strict():
    spec = events.SESSION_COMPLETED
    with pytest.raises(ValidationError) as err:
        spec.validate_outgoing({**COMPLETED, "notes": "client was upset"})
    assert "notes" in err.value.messages
    with pytest.raises(ValidationError) as err:
        spec.validate_outgoing({**COMPLETED, "session_number": 0})
    assert "session_number" in err.value.messages


def test_consumers_tolerate_added_fields_but_not_missing_ones():
    spec = events.SESSION_COMPLETED
    wire = spec.validate_outgoing(COMPLETED)
    loaded = spec.load_incoming({**wire, "added_later": True})
    assert not hasattr(loaded, "added_later") and loaded.session_number == 3
    with pytest.raises(MalformedEvent):
        spec.load_incoming({k: v for k, v in wire.items() if k != "client_id"})


def test_unknown_type_or_version_has_no_schema():
    event = Event(
        type="attune.scheduling.session.completed", source="scheduling", subject="c1", data={}, dataversion=99
    )
    with pytest.raises(UnknownEventType):
        spec_for(event)


def test_every_catalog_entry_names_its_source_topic_and_version():
    for (event_type, version), spec in CATALOG.items():
        assert event_type == f"attune.{spec.source}.{spec.name}" and version == spec.version


def test_item_answers_and_free_text_never_fit_an_event():
    completed = events.QUESTIONNAIRE_COMPLETED.schema().fields
    assert "answers" not in completed and "items" not in completed
    assert "reason" not in events.APPOINTMENT_CANCELLED.schema().fields
    assert "explanation" not in events.ALERT_RAISED.schema().fields


def test_consumed_payloads_are_frozen_dataclasses_with_the_schemas_fields():
    spec = events.SESSION_COMPLETED
    loaded = spec.load_incoming(spec.validate_outgoing(COMPLETED))
    assert type(loaded).__name__ == "SessionCompleted" and loaded.completed_at == COMPLETED["completed_at"]
    assert {f.name for f in dataclasses.fields(loaded)} == set(spec.schema().fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.client_id = "someone else"
    optional = events.CLIENT_REGISTERED.load_incoming(
        {
            "client_id": "c1",
            "preferred_name": "Jo",
            "timezone": "UTC",
            "consent_email": False,
            "status": "active",
        }
    )
    assert optional.email is None and optional.preferred_channel == "email"


def test_every_spec_is_a_catalog_constant_with_its_own_data_class():
    assert len(CATALOG) == len(events.ALL_SPECS) == len({spec.data_class for spec in events.ALL_SPECS})
    assert events.SOURCES == ["feedback", "notifications", "scheduling"]
