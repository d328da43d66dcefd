"""Newer state always wins: every projection of scheduling's clients and clinicians ignores an event older
than the one it holds, whatever order events arrive in (late topics, replayed dead letters, rebuilds)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.feedback.models import ClientRecord, ClinicianRecord
from services.notifications.models import Contact
from shared.events import catalog as events
from tests.support import events as ev
from tests.support.apps import make_app

NOW = datetime.now(UTC)


@pytest.fixture(params=["feedback", "notifications"])
def service(request, db_url):
    made = make_app(request.param, db_url)
    yield made
    made.close()


def _client_row(service):
    with service.runtime.sessions() as s:
        if service.name == "feedback":
            row = s.get(ClientRecord, "c1")
            return {"consent": row.consent_email, "active": row.status == "active", "version": row.version}
        row = s.get(Contact, "c1")
        return {"consent": row.consent_email, "active": row.active, "version": row.version, "email": row.email}


def test_out_of_order_and_replayed_client_events_never_regress_the_projection(service):
    service.deliver(events.CLIENT_REGISTERED, ev.client(version=1))
    service.deliver(events.CLIENT_UPDATED, ev.client(email="jo.new@example.org", consent_email=False, version=3))
    service.deliver(events.CLIENT_UPDATED, ev.client(email="jo.mid@example.org", version=2))  # arrived late
    service.deliver(events.CLIENT_REGISTERED, ev.client(version=1))  # a replayed dead letter
    row = _client_row(service)
    assert row["consent"] is False and row["version"] == 3
    assert row.get("email", "jo.new@example.org") == "jo.new@example.org"

    discharged = {"client_id": "c1", "episode_id": "e1", "discharged_at": NOW}
    service.deliver(events.CLIENT_DISCHARGED, {**discharged, "version": 4})
    service.deliver(events.CLIENT_UPDATED, ev.client(version=3))  # older than the discharge
    assert _client_row(service)["active"] is False


def test_an_older_clinician_event_does_not_bring_back_an_old_state(service):
    service.deliver(events.CLINICIAN_REGISTERED, ev.clinician(version=2, active=False))
    service.deliver(events.CLINICIAN_UPDATED, ev.clinician(version=1, active=True))
    with service.runtime.sessions() as s:
        model = ClinicianRecord if service.name == "feedback" else Contact
        assert s.get(model, "k1").active is False


def test_unversioned_events_from_before_versions_still_apply(service):
    service.deliver(events.CLIENT_REGISTERED, ev.client())
    service.deliver(events.CLIENT_UPDATED, ev.client(consent_email=False))
    assert _client_row(service)["consent"] is False
