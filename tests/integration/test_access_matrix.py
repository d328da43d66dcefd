"""Authorization, exhaustively, against the real Keycloak: every route of the three services has a policy entry,
and every route x role x {own client, another clinician's client, no client} gets the expected answer.

"passes" means the request got through authorization: the view ran and answered (2xx, or 409/412/422 from
the domain or validation: most writes here are sent with an empty body on purpose, so nothing changes).
Expected outcomes are derived from the policy table and the ownership rule; ``KEY_RULES`` then pins the ones
that matter most by hand, so a wrong table fails too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from deploy.postgres.server import create_database
from services.feedback.models import Alert, ClinicianRecord
from shared.access import READ_METHODS
from shared.db import transaction
from tests.support.apps import FACTORIES, make_app, make_scheduling
from tests.support.feedback_data import client_with_scores

ROLES = (None, "frontdesk", "clinician", "supervisor", "admin")
PASSES, UNAUTHENTICATED, FORBIDDEN, HIDDEN = "passes", "401", "403", "404"


def outcome(status: int) -> str:
    return {401: UNAUTHENTICATED, 403: FORBIDDEN, 404: HIDDEN}.get(status, PASSES)


@dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    path: str
    target: str | None = None  # "own" / "other": whose client the request is about; None: no client
    body: dict | None = None


def test_every_route_of_every_service_has_a_policy_entry(tmp_path):
    for name in FACTORIES:
        made = make_app(name, f"sqlite:///{tmp_path / name}.db")
        table = made.app.extensions["attune_policy"]
        endpoints = {rule.endpoint for rule in made.app.url_map.iter_rules()}
        assert endpoints - set(table) == set(), f"{name}: routes without a policy entry"
        assert set(table) - endpoints == set(), f"{name}: policy entries for routes that do not exist"


# -- scheduling ----------------------------------------------------------------------------------------------


def _database(request, tmp_path_factory, name: str) -> str:
    """The matrix runs on both databases: SQLite (the embedded default) and PostgreSQL (production)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('matrix') / name}.db"
    return create_database(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scheduling(request, tmp_path_factory):
    made = make_scheduling(_database(request, tmp_path_factory, "s"))
    api, desk = made.client, made.headers("frontdesk")
    week = {d: [["07:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

    def clinician(name, supervisor=None):
        body = {"name": name, "email": f"{name}@p.example", "timezone": "UTC", "working_hours": week}
        return api.post("/api/clinicians", headers=desk, json={**body, "supervisor_id": supervisor}).json["id"]

    sup = clinician("sup")
    ids = {"sup": sup, "own": clinician("own", supervisor=sup), "other": clinician("other")}
    # 10:00 the day after tomorrow: inside the working hours whatever the time the suite runs at
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    for n, who in enumerate(("own", "other")):
        ids[f"{who}_client"] = api.post(
            "/api/clients", headers=desk, json={"legal_name": f"Client {who}", "clinician_id": ids[who]}
        ).json["id"]
        booked = api.post(
            "/api/appointments",
            headers=desk,
            json={
                "client_id": ids[f"{who}_client"],
                "clinician_id": ids[who],
                "type_id": "individual",
                "starts_at": (start + timedelta(hours=2 * n)).isoformat(),
                "front_desk_note": f"note about {who}",
            },
        )
        ids[f"{who}_appt"] = booked.json["id"]
    yield made, ids
    made.close()


def scheduling_cases(ids) -> list[Case]:
    own_c, other_c, own_a = ids["own_client"], ids["other_client"], ids["own_appt"]
    k = ids["own"]
    return [
        Case("scheduling.Clinicians", "GET", "/api/clinicians"),
        Case("scheduling.Clinicians", "POST", "/api/clinicians", body={}),
        Case("scheduling.ClinicianById", "GET", f"/api/clinicians/{k}"),
        Case("scheduling.ClinicianById", "PATCH", f"/api/clinicians/{k}", body={"name": ""}),
        Case("scheduling.ClinicianTimeOff", "GET", f"/api/clinicians/{k}/time-off"),
        Case("scheduling.ClinicianTimeOff", "POST", f"/api/clinicians/{k}/time-off", body={}),
        Case("scheduling.Clients", "GET", "/api/clients"),
        Case("scheduling.Clients", "POST", "/api/clients", body={}),
        Case("scheduling.ClientById", "GET", f"/api/clients/{own_c}", "own"),
        Case("scheduling.ClientById", "GET", f"/api/clients/{other_c}", "other"),
        Case("scheduling.ClientById", "PATCH", f"/api/clients/{own_c}", "own", body={"legal_name": ""}),
        Case("scheduling.DeliveryProblems", "GET", "/api/delivery-problems"),
        Case("scheduling.Rooms", "GET", "/api/rooms"),
        Case("scheduling.Rooms", "POST", "/api/rooms", body={}),
        Case("scheduling.AppointmentTypes", "GET", "/api/appointment-types"),
        Case("scheduling.AppointmentTypes", "POST", "/api/appointment-types", body={}),
        Case("scheduling.Appointments", "GET", "/api/appointments"),
        Case("scheduling.Appointments", "POST", "/api/appointments", body={}),
        Case("scheduling.AppointmentById", "GET", f"/api/appointments/{own_a}", "own"),
        Case("scheduling.appointment_step", "POST", f"/api/appointments/{own_a}/check-in", "own", body=None),
        Case("scheduling.cancel_appointment", "POST", f"/api/appointments/{own_a}/cancel", "own", body={}),
        Case("scheduling.reschedule_appointment", "POST", f"/api/appointments/{own_a}/reschedule", "own", body={}),
        Case("scheduling.change_video_link", "POST", f"/api/appointments/{own_a}/video-link", "own", body={}),
        Case("scheduling.cancel_in_series", "POST", f"/api/appointments/{own_a}/series/cancel", "own", body={}),
        Case("scheduling.reschedule_in_series", "POST", f"/api/appointments/{own_a}/series/reschedule", body={}),
        Case("scheduling.book_series", "POST", "/api/series", body={}),
        Case("scheduling.preview_series", "POST", "/api/series/preview", body={}),
        Case("scheduling.availability", "GET", "/api/availability"),
    ]


def expected(policy, case: Case, role: str | None) -> str:
    rule = policy[case.endpoint]
    if role is None:
        return UNAUTHENTICATED
    if role not in rule.roles_for(case.method):
        return FORBIDDEN
    if role in ("clinician", "supervisor") and case.target == "other" and "own" in rule.owner.lower():
        return HIDDEN  # someone else's client is not found (its existence is not confirmed)
    return PASSES


def principal_for(role, ids):
    return {"clinician": ids.get("own"), "supervisor": ids.get("sup")}.get(role)


def run_matrix(made, ids, cases):
    policy = made.app.extensions["attune_policy"]
    wrong = []
    for case in cases:
        for role in ROLES:
            headers = made.headers(role, principal_for(role, ids)) if role else {}
            kwargs = {"headers": headers}
            if case.method not in READ_METHODS and case.body is not None:
                kwargs["json"] = case.body
            status = made.client.open(case.path, method=case.method, **kwargs).status_code
            want = expected(policy, case, role)
            if outcome(status) != want:
                wrong.append(f"{case.method} {case.path} as {role}: {status}, expected {want}")
    assert wrong == []


def test_scheduling_api_matrix(scheduling):
    made, ids = scheduling
    run_matrix(made, ids, scheduling_cases(ids))


def test_discharge_needs_ownership(scheduling):
    made, ids = scheduling
    path = "/api/clients/{}/discharge"
    clinician = made.headers("clinician", ids["own"])
    assert made.client.post(path.format(ids["other_client"]), headers=clinician).status_code == 404
    assert (
        made.client.post(path.format(ids["other_client"]), headers=made.headers("supervisor", ids["sup"])).status_code
        == 404
    )
    assert made.client.post(path.format(ids["own_client"]), headers=made.headers("admin")).status_code in (200, 409)


def test_clinicians_see_their_own_clients_and_others_appointments_as_busy_blocks(scheduling):
    made, ids = scheduling
    clinician = made.headers("clinician", ids["own"])
    clients = made.client.get("/api/clients", headers=clinician).json["items"]
    assert [c["id"] for c in clients] == [ids["own_client"]]
    supervisor = made.client.get("/api/clients", headers=made.headers("supervisor", ids["sup"])).json["items"]
    assert [c["id"] for c in supervisor] == [ids["own_client"]]  # their supervisee's, not the practice's
    desk = made.client.get("/api/clients", headers=made.headers("frontdesk")).json["items"]
    assert {c["id"] for c in desk} == {ids["own_client"], ids["other_client"]}

    calendar = {a["id"]: a for a in made.client.get("/api/appointments", headers=clinician).json["items"]}
    other = calendar[ids["other_appt"]]
    assert other["client_id"] is None and other["front_desk_note"] is None and other["starts_at"]
    assert calendar[ids["own_appt"]]["front_desk_note"] == "note about own"
    single = made.client.get(f"/api/appointments/{ids['other_appt']}", headers=clinician).json
    assert single["client_id"] is None and single["front_desk_note"] is None


def test_a_clinician_issues_only_their_own_calendar_feed(scheduling):
    made, ids = scheduling
    clinician = made.headers("clinician", ids["own"])
    assert made.client.post(f"/api/clinicians/{ids['own']}/calendar-token", headers=clinician).status_code == 201
    assert made.client.post(f"/api/clinicians/{ids['other']}/calendar-token", headers=clinician).status_code == 403


# -- feedback ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def feedback(request, tmp_path_factory):
    made = make_app("feedback", _database(request, tmp_path_factory, "f"))
    client_with_scores(made.runtime, "c-own", "k-own", [14, 15, 20], name="Own")
    client_with_scores(made.runtime, "c-other", "k-other", [14, 15, 20], name="Other")
    with transaction(made.runtime.sessions) as s:
        s.add(ClinicianRecord(id="k-own", name="Own", active=True, supervisor_id="k-sup"))
        s.add(ClinicianRecord(id="k-other", name="Other", active=True))
        alerts = {a.client_id: a.id for a in s.scalars(select(Alert))}
    ids = {"own": "k-own", "sup": "k-sup", "own_alert": alerts["c-own"], "other_alert": alerts["c-other"]}
    yield made, ids
    made.close()


PLAN = {"intake_measures": ["phq9"], "session_measures": ["phq9"]}  # valid: ownership is checked after the body


def feedback_cases(ids) -> list[Case]:
    cases = [
        Case("clinical.Caseload", "GET", "/api/caseload"),
        Case("clinical.Alerts", "GET", "/api/alerts"),
        Case("clinical.PracticePlan", "GET", "/api/plans/practice"),
        Case("clinical.PracticePlan", "PUT", "/api/plans/practice", body={"session_measures": ["nope"]}),
        Case("clinical.Kiosks", "GET", "/api/kiosks"),
        Case("clinical.Kiosks", "POST", "/api/kiosks", body={"name": ""}),
    ]
    for who in ("own", "other"):
        client, alert = f"c-{who}", ids[f"{who}_alert"]
        cases += [
            Case("clinical.Progress", "GET", f"/api/clients/{client}/progress/phq9", who),
            Case("clinical.Responses", "GET", f"/api/clients/{client}/responses", who),
            Case("clinical.FhirExport", "GET", f"/api/clients/{client}/fhir", who),
            Case("clinical.Questionnaires", "GET", f"/api/clients/{client}/questionnaires", who),
            Case(
                "clinical.Questionnaires",
                "POST",
                f"/api/clients/{client}/questionnaires",
                who,
                body={"measures": ["phq9"]},
            ),
            Case("clinical.ClientPlan", "GET", f"/api/clients/{client}/plan", who),
            Case("clinical.ClientPlan", "PUT", f"/api/clients/{client}/plan", who, body=PLAN),
            Case("clinical.BreakGlass", "GET", f"/api/clients/{client}/break-glass", who),
            Case("clinical.acknowledge_alert", "POST", f"/api/alerts/{alert}/acknowledge", who),
            Case("clinical.resolve_alert", "POST", f"/api/alerts/{alert}/resolve", who, body={"note": "Called."}),
        ]
    return cases


def test_feedback_api_matrix(feedback):
    made, ids = feedback
    run_matrix(made, ids, feedback_cases(ids))


def test_break_glass_opens_one_client_for_a_while_with_a_reason_shown_to_their_clinician(feedback):
    made, ids = feedback
    stranger = made.headers("clinician", "k-covering")
    assert made.client.get("/api/clients/c-own/responses", headers=stranger).status_code == 404
    refused = made.client.post("/api/clients/c-own/break-glass", headers=stranger, json={"reason": "urgent"})
    assert refused.status_code == 422 and "reason" in refused.json["errors"]
    grant = made.client.post(
        "/api/clients/c-own/break-glass", headers=stranger, json={"reason": "Covering Dr Own: client called in crisis"}
    )
    assert grant.status_code == 201
    assert made.client.get("/api/clients/c-own/responses", headers=stranger).status_code == 200
    assert made.client.get("/api/clients/c-other/responses", headers=stranger).status_code == 404  # only that one
    shown = made.client.get("/api/clients/c-own/break-glass", headers=made.headers("clinician", "k-own")).json
    assert shown[0]["reason"].startswith("Covering Dr Own") and shown[0]["clinician_id"] == "k-covering"
    opened = datetime.fromisoformat(shown[0]["granted_at"])
    assert datetime.fromisoformat(shown[0]["expires_at"]) - opened == timedelta(hours=4)


# -- notifications -------------------------------------------------------------------------------------------


def test_notifications_api_matrix(tmp_path):
    made = make_app("notifications", f"sqlite:///{tmp_path / 'n.db'}")
    run_matrix(made, {}, [Case("deliveries.Deliveries", "GET", "/api/deliveries")])


# -- what matters most, by hand --------------------------------------------------------------------------------

KEY_RULES = [
    # (service, endpoint, method, role, allowed)
    ("feedback", "clinical.Responses", "GET", "frontdesk", False),  # never answers or scores at the desk
    ("feedback", "clinical.Alerts", "GET", "frontdesk", False),
    ("feedback", "clinical.Questionnaires", "GET", "frontdesk", True),  # completion status only
    ("feedback", "clinical.Responses", "GET", "admin", False),  # admins get no clinical data
    ("feedback", "clinical.FhirExport", "GET", "admin", False),
    ("feedback", "dashboard.home", "GET", "admin", False),
    ("feedback", "clinical.PracticePlan", "PUT", "clinician", False),
    ("feedback", "clinical.Kiosks", "POST", "frontdesk", False),  # only admins register a practice tablet
    ("feedback", "clinical.Questionnaires", "POST", "frontdesk", True),  # the desk may start one in the room
    ("scheduling", "scheduling.Appointments", "POST", "clinician", False),  # the desk books
    ("scheduling", "scheduling.discharge", "POST", "clinician", True),  # their own clients (ownership)
    ("scheduling", "desk.day", "GET", "clinician", False),
    ("notifications", "deliveries.Deliveries", "GET", "clinician", False),
]


@pytest.mark.parametrize(("service", "endpoint", "method", "role", "allowed"), KEY_RULES)
def test_key_rules(service, endpoint, method, role, allowed):
    from services import feedback, notifications, scheduling

    policy = {"scheduling": scheduling.policy, "feedback": feedback.policy, "notifications": notifications.policy}
    assert (role in policy[service].POLICY[endpoint].roles_for(method)) is allowed
