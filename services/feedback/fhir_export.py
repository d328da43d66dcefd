"""FHIR export of a client's questionnaires: a QuestionnaireResponse per completed measure and a total-score
Observation derived from it (US Core "Observation Screening Assessment": category ``survey``, the LOINC
*total-score* code, not the panel code, an integer value, ``derivedFrom`` the QuestionnaireResponse).

Built and validated with fhir.resources' R4B models (R4's technical correction; identical for these
resources)."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle

from services.feedback import measures
from services.feedback.models import Response

LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _answer(m: measures.Measure, item: dict, value: int) -> dict:
    option = next((o for o in m.options_for(item) if o["value"] == value), None)
    if option and option.get("loinc"):
        return {"valueCoding": {"system": LOINC, "code": option["loinc"], "display": option["label"]}}
    return {"valueInteger": value}


def questionnaire_response(client_id: str, r: Response) -> dict:
    m = measures.get(r.measure)
    items = []
    for item in m.items + m.extra_items:
        if item["id"] in r.answers:
            entry = {"linkId": item["id"], "text": item["text"], "answer": [_answer(m, item, r.answers[item["id"]])]}
            if item.get("loinc"):
                entry["definition"] = f"{LOINC}/{item['loinc']}"
            items.append(entry)
    panel = m.loinc.get("panel")
    return {
        "resourceType": "QuestionnaireResponse",
        "id": r.id,
        "status": "completed",
        "questionnaire": f"{LOINC}/q/{panel}" if panel else f"urn:attune:measure:{m.id}|{m.version}",
        "subject": {"reference": f"Patient/{client_id}"},
        "authored": r.completed_at.isoformat(),
        "item": items,
    }


def total_observation(client_id: str, r: Response) -> dict:
    m = measures.get(r.measure)
    code = (
        {"coding": [{"system": LOINC, "code": m.loinc["total"], "display": f"{m.name} total score"}]}
        if m.loinc.get("total")
        else {"text": f"{m.name} total score"}
    )
    observation = {
        "resourceType": "Observation",
        "id": f"{r.id}-total",
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": code,
        "subject": {"reference": f"Patient/{client_id}"},
        "effectiveDateTime": r.completed_at.isoformat(),
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{r.id}"}],
    }
    if float(r.total).is_integer():
        observation["valueInteger"] = int(r.total)
    else:  # pro-rated totals are not whole numbers
        observation["valueQuantity"] = {
            "value": r.total,
            "unit": "{score}",
            "system": "http://unitsofmeasure.org",
            "code": "{score}",
        }
    if r.band:
        observation["interpretation"] = [{"text": r.band}]
    return observation


def client_bundle(client_id: str, responses: list[Response]) -> dict:
    entries = []
    for r in responses:
        for resource in (questionnaire_response(client_id, r), total_observation(client_id, r)):
            entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
