"""The web layer as an attacker tries it (each finding of the staff-access issue, against the real Keycloak):
forms without their session's CSRF token, open redirects after sign-in, idempotent replays without a sign-in,
the page cookie on the JSON API, caches, cookies, body size, link-guessing speed and token-free logs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.routing import Rule

from shared.auth import safe_next
from tests.support import identity
from tests.support.apps import FACTORIES, make_app, make_scheduling


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "https://evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\tevil",
        "",
        None,
        "evil.example",
    ],
)
def test_after_sign_in_only_a_path_on_this_site(target):
    assert safe_next(target) == "/"


def test_a_path_on_this_site_is_kept():
    assert safe_next("/desk/day?date=2026-01-05") == "/desk/day?date=2026-01-05"


def test_sign_in_never_redirects_off_site(tmp_path):
    made = make_app("notifications", f"sqlite:///{tmp_path / 'n.db'}")
    identity.sign_in(made.client, "admin", next_path="/\\evil.example")
    # The callback sent the browser to "/" (checked inside sign_in: a 302); a second sign-in to a real path:
    identity.sign_in(made.client, "admin", next_path="/admin/deliveries")
    assert made.client.get("/admin/deliveries").status_code == 200


def _page_forms(app) -> list[Rule]:
    """Every state-changing page route (not the API, not public): each must refuse a request without CSRF."""
    policy = app.extensions["attune_policy"]
    return [
        rule
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/api/")
        and not policy[rule.endpoint].public
        and rule.methods - {"GET", "HEAD", "OPTIONS"}
    ]


def _fill(rule: Rule) -> str:
    path = rule.rule
    for arg in rule.arguments:
        path = re.sub(rf"<[^>]*{arg}>", "x1" if arg != "action" else "acknowledge", path)
    return path.replace('<any("check-in", "no-show", "complete"):step>', "check-in")


@pytest.mark.parametrize(
    ("service", "role", "clinician"), [("scheduling", "frontdesk", None), ("feedback", "clinician", "k1")]
)
def test_every_page_form_refuses_a_missing_or_stale_csrf_token(tmp_path, service, role, clinician):
    made = make_app(service, f"sqlite:///{tmp_path / 'db.db'}")
    forms = _page_forms(made.app)
    assert forms, "no page forms found"
    identity.sign_in(made.client, role, clinician)
    stale = made.client.get("/desk/day" if service == "scheduling" else "/dashboard").get_data(as_text=True)
    old_token = re.search(r'name="csrf" value="([^"]+)"', stale).group(1)
    made.client.post("/logout")
    identity.sign_in(made.client, role, clinician)  # a new session: a new token
    fresh = made.client.get("/desk/day" if service == "scheduling" else "/dashboard").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', fresh).group(1)
    assert token != old_token
    policy = made.app.extensions["attune_policy"]
    for rule in forms:
        path = _fill(rule)
        if role not in policy[rule.endpoint].write:  # another role's form (the admin's import): refused outright
            for data in ({}, {"csrf": old_token}, {"csrf": token}):
                assert made.client.post(path, data=data).status_code == 403, path
            continue
        assert made.client.post(path, data={}).status_code == 400, path
        assert made.client.post(path, data={"csrf": old_token}).status_code == 400, path
        assert made.client.post(path, data={"csrf": token}).status_code != 400, path


def test_an_idempotent_replay_needs_the_same_signed_in_person(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    desk = made.headers("frontdesk")
    client = made.client.post("/api/clients", headers=desk, json={"legal_name": "Joanna Bloggs"}).json
    key = {"Idempotency-Key": "discharge-1"}
    first = made.client.post(f"/api/clients/{client['id']}/discharge", headers={**desk, **key})
    assert first.status_code == 200
    anonymous = made.client.post(f"/api/clients/{client['id']}/discharge", headers=key)
    assert anonymous.status_code == 401 and b"Joanna" not in anonymous.data
    admin = made.client.post(f"/api/clients/{client['id']}/discharge", headers={**made.headers("admin"), **key})
    assert admin.headers.get("Idempotent-Replayed") is None  # another person's key scope: not a replay


def test_the_json_api_ignores_the_page_cookie(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    identity.sign_in(made.client, "frontdesk")
    assert made.client.get("/desk/day").status_code == 200  # the cookie works on pages
    assert made.client.get("/api/clients").status_code == 401  # and never on the API
    assert made.client.post("/api/clients", json={"legal_name": "X"}).status_code == 401


def test_a_token_that_is_not_an_access_token_for_attune_is_refused(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    token = identity.access_token("frontdesk")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for bad in (forged, "not-a-jwt", f"{header}.{payload}."):
        assert made.client.get("/api/clients", headers={"Authorization": f"Bearer {bad}"}).status_code == 401


def test_no_store_on_responses_and_hsts_and_secure_cookies_in_production(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    response = made.client.get("/api/clients", headers=made.headers("frontdesk"))
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # development: plain http on loopback
    production = made.settings.replace(
        environment="production",
        secret_key="k" * 32,
        link_secret="l" * 32,
        link_key="cHJvZHVjdGlvbi1saW5rLWtleS0wMDAwMDAwMDAwMDA=",  # scheduling seals video links
        oidc_client_secret="c" * 32,
        oidc_admin_client_secret="a" * 32,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="scheduling",
        kafka_sasl_password="b" * 32,
        oidc_issuer="https://id.practice.example/realms/attune",
        public_urls={name: f"https://{name}.practice.example" for name in FACTORIES},
        proxy_hops=1,
    )
    made.runtime.settings = production
    app = FACTORIES["scheduling"](production, made.runtime)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    seen = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert seen.headers["Strict-Transport-Security"].startswith("max-age=")


def test_large_bodies_are_refused(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    big = {"legal_name": "x" * (2 * 1024 * 1024)}
    assert made.client.post("/api/clients", headers=made.headers("frontdesk"), json=big).status_code == 413


def test_link_pages_are_rate_limited_per_address(tmp_path):
    made = make_app("notifications", f"sqlite:///{tmp_path / 'n.db'}", public_link_rate_limit="5 per minute")
    answers = [made.client.get(f"/unsubscribe/guess-{n}").status_code for n in range(7)]
    assert answers[:5].count(429) == 0 and answers[5:] == [429, 429]
    assert made.client.get("/healthz").status_code == 200  # other routes are not limited


def test_request_logs_carry_the_route_and_the_person_never_the_token_or_query(tmp_path, capsys):
    made = make_app("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    made.client.get("/q/secret-token-123?x=private")
    made.client.get("/api/caseload?q=Joanna", headers=made.headers("clinician", "k1"))
    out = capsys.readouterr()
    text = out.out + out.err
    assert '"route": "/q/<token>"' in text and "secret-token-123" not in text
    assert "Joanna" not in text and "private" not in text
    assert re.search(r'"route": "/api/caseload".*"subject": "[0-9a-f-]{36}"', text)


def test_the_database_engine_hides_statement_parameters(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    assert made.runtime.engine.hide_parameters is True


def test_a_clinician_account_without_a_clinician_id_is_refused_with_a_reason(tmp_path):
    made = make_app("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    token = identity.access_token("clinician", None)
    refused = made.client.get("/api/caseload", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and "clinician id" in refused.json["detail"]


def test_a_page_session_ends_after_the_idle_timeout(tmp_path):
    from shared.messaging.tables import StaffSession

    made = make_app("notifications", f"sqlite:///{tmp_path / 'n.db'}")
    identity.sign_in(made.client, "admin")
    assert made.client.get("/admin/deliveries").status_code == 200
    with made.runtime.sessions() as s, s.begin():
        row = s.query(StaffSession).one()
        row.last_seen_at = datetime.now(UTC) - timedelta(minutes=31)
    assert made.client.get("/admin/deliveries").status_code == 302  # back to sign-in
    with made.runtime.sessions() as s:
        assert s.query(StaffSession).count() == 0


def test_a_flash_message_never_puts_a_client_in_the_cookie(tmp_path):
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    identity.sign_in(made.client, "frontdesk")
    page = made.client.get("/desk/clients").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    done = made.client.post(
        "/desk/clients", data={"csrf": token, "legal_name": "Joanna Bloggs", "email": "j@b.example"}
    )
    assert done.status_code in (200, 302, 303)
    cookie = made.client.get_cookie("attune_scheduling")
    held = made.app.session_interface.get_signing_serializer(made.app).loads(cookie.value)
    assert "Joanna" not in str(held) and "j@b.example" not in str(held)
    assert any("registered" in str(message) for message in held.get("_flashes", []))  # the flash is there
