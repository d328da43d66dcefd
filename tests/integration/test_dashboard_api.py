"""The clinician's API: caseload, progress, item answers and alerts, each behind the right role."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.feedback import create_app
from services.feedback.models import ClinicianRecord
from shared.db import transaction
from shared.messaging.tables import OutboxMessage
from tests.support.apps import service_runtime, staff_headers
from tests.support.feedback_data import client_with_scores


@pytest.fixture
def fb(db_url):
    runtime = service_runtime("feedback", db_url)
    client_with_scores(runtime, "c-jo", "k-ada", [14, 15, 20], name="Jo")  # reliable deterioration
    client_with_scores(runtime, "c-sam", "k-ada", [18, 14, 11], name="Sam")
    client_with_scores(runtime, "c-kim", "k-lin", [12, 12], name="Kim", risk_at=2)
    with transaction(runtime.sessions) as s:  # Dr Sup supervises both (as scheduling's clinician events say)
        for k in ("k-ada", "k-lin"):
            s.add(ClinicianRecord(id=k, name=k, active=True, supervisor_id="k-sup"))
    app = create_app(runtime.settings, runtime)

    def as_(role, clinician_id=None):
        return staff_headers(role, clinician_id)

    yield app.test_client(), as_, runtime
    runtime.engine.dispose()


def test_a_clinician_sees_only_their_caseload_with_alerts_first(fb):
    c, as_, _ = fb
    rows = c.get("/api/caseload", headers=as_("clinician", "k-ada")).json
    assert [r["preferred_name"] for r in rows] == ["Jo", "Sam"]
    assert rows[0]["status"] == "off_track" and rows[0]["open_alerts"][0]["rule"] == "reliable_deterioration"
    assert rows[1]["status"] in ("on_track", "watch") and rows[1]["last_scores"]["phq9"]["total"] == 11
    everyone = c.get("/api/caseload", headers=as_("supervisor", "k-sup")).json
    assert [r["preferred_name"] for r in everyone] == ["Kim", "Jo", "Sam"]  # the urgent risk alert first
    assert everyone[0]["status"] == "risk"
    assert c.get("/api/caseload", headers=as_("supervisor", "k-other-sup")).json == []  # not their team


def test_progress_and_item_answers_are_for_the_clients_own_clinician(fb):
    c, as_, _ = fb
    ada = as_("clinician", "k-ada")
    progress = c.get("/api/clients/c-jo/progress/phq9", headers=ada).json
    assert [p["total"] for p in progress["points"]] == [14, 15, 20]
    assert progress["points"][2]["alert"] == "reliable_deterioration"
    assert progress["expected"][0]["expected"] == 14
    answers = c.get("/api/clients/c-jo/responses", headers=ada).json
    assert answers[0]["answers"]["1"] == 3
    assert c.get("/api/clients/c-kim/progress/phq9", headers=ada).status_code == 404  # another's client
    assert c.get("/api/clients/c-kim/responses", headers=ada).status_code == 404
    assert c.get("/api/clients/c-jo/progress/nope", headers=ada).status_code == 404


def test_front_desk_sees_completion_never_scores(fb):
    c, as_, _ = fb
    desk = as_("frontdesk")
    assert c.get("/api/caseload", headers=desk).status_code == 403
    assert c.get("/api/clients/c-jo/responses", headers=desk).status_code == 403
    status = c.get("/api/clients/c-jo/questionnaires", headers=desk)
    assert status.status_code == 200 and [q["status"] for q in status.json] == ["completed"] * 3
    assert "total" not in status.text and "answers" not in status.text


def test_alerts_are_acknowledged_and_resolved_with_a_note(fb):
    c, as_, runtime = fb
    lin = as_("clinician", "k-lin")
    [alert] = c.get("/api/alerts", headers=lin).json
    assert alert["severity"] == "urgent" and "item 9" in alert["explanation"]
    assert c.post(f"/api/alerts/{alert['id']}/acknowledge", headers=as_("clinician", "k-ada")).status_code == 404
    assert c.post(f"/api/alerts/{alert['id']}/acknowledge", headers=lin).json["status"] == "acknowledged"
    assert c.post(f"/api/alerts/{alert['id']}/resolve", headers=lin, json={"note": ""}).status_code == 422
    done = c.post(f"/api/alerts/{alert['id']}/resolve", headers=lin, json={"note": "Called; safety plan agreed."})
    assert done.json["status"] == "resolved" and done.json["resolution_note"] == "Called; safety plan agreed."
    assert c.get("/api/alerts", headers=lin).json == []
    with runtime.sessions() as s:
        assert "attune.feedback.alert.resolved" in s.scalars(select(OutboxMessage.event_type)).all()


def test_fhir_export_uses_the_total_score_code_and_links_the_response(fb):
    from fhir.resources.R4B.bundle import Bundle

    c, as_, _ = fb
    r = c.get("/api/clients/c-kim/fhir", headers=as_("clinician", "k-lin"))
    assert r.status_code == 200 and r.mimetype == "application/fhir+json"
    bundle = Bundle.model_validate(r.json)  # valid FHIR
    resources = [e.resource for e in bundle.entry]
    responses = [x for x in resources if x.__resource_type__ == "QuestionnaireResponse"]
    observations = [x for x in resources if x.__resource_type__ == "Observation"]
    assert len(responses) == len(observations) == 2
    obs = observations[1]
    assert obs.code.coding[0].code == "44261-6"  # the total score, not the panel (44249-1)
    assert obs.category[0].coding[0].code == "survey" and obs.valueInteger == 12
    assert obs.derivedFrom[0].reference == f"QuestionnaireResponse/{responses[1].id}"
    item9 = next(i for i in responses[1].item if i.linkId == "9")
    assert item9.answer[0].valueCoding.code == "LA6569-3"  # "Several days" (1)
    assert item9.definition == "http://loinc.org/44260-8"
    assert c.get("/api/clients/c-kim/fhir", headers=as_("clinician", "k-ada")).status_code == 404
