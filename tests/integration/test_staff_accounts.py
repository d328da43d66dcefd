"""Staff accounts at the real Keycloak: an invitation creates the account (role, clinician id, a password and
an authenticator to set up) and Keycloak emails it; deactivating a clinician disables their account."""

from __future__ import annotations

import html
import re

import requests

from deploy.keycloak import server as keycloak
from services.scheduling.accounts import close_accounts_once
from shared.staff_accounts import StaffAccounts
from tests.support import identity
from tests.support.apps import make_app, make_scheduling


def _user(email: str) -> dict:
    server = identity.provider()
    http = server.admin_session()
    found = http.get(f"{server.url}/admin/realms/{keycloak.REALM}/users", params={"email": email, "exact": "true"})
    (user,) = found.json()
    roles = http.get(f"{server.url}/admin/realms/{keycloak.REALM}/users/{user['id']}/role-mappings/realm").json()
    return {**user, "roles": {r["name"] for r in roles}}


def test_invite_a_clinician_then_deactivating_them_closes_the_account(tmp_path, mail):
    server = identity.provider()
    http = server.admin_session()
    realm_url = f"{server.url}/admin/realms/{keycloak.REALM}"
    realm = http.get(realm_url).json()
    http.put(
        realm_url, json={**realm, "smtpServer": {**realm["smtpServer"], "port": str(mail.port)}}
    ).raise_for_status()

    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    clinician = made.client.post(
        "/api/clinicians", headers=made.headers("frontdesk"), json={"name": "Dr New", "email": "dr.new@p.example"}
    ).json
    runner = made.app.test_cli_runner()
    refused = runner.invoke(args=["invite-staff", "--email", "dr.new@p.example", "--role", "clinician"])
    assert refused.exit_code != 0 and "--clinician-id" in refused.output
    done = runner.invoke(
        args=["invite-staff", "--email", "dr.new@p.example", "--role", "clinician", "--clinician-id", clinician["id"]]
    )
    assert done.exit_code == 0, done.output
    user = _user("dr.new@p.example")
    assert user["enabled"] and "clinician" in user["roles"]
    assert user["attributes"]["clinician_id"] == [clinician["id"]]
    assert set(user["requiredActions"]) == {"UPDATE_PASSWORD", "CONFIGURE_TOTP"}
    invitation = mail.wait_for(lambda m: m.to == "dr.new@p.example")
    assert invitation and "/realms/attune/login-actions/action-token" in invitation[0].text()
    again = runner.invoke(args=["invite-staff", "--email", "dr.new@p.example", "--role", "frontdesk"])
    assert again.exit_code != 0 and "already exists" in again.output

    # A working account for the same clinician (the one an invitation leads to, with its password set).
    account = identity.account("clinician", clinician["id"], otp=False)
    assert identity.access_token("clinician", clinician["id"])
    accounts = StaffAccounts.from_settings(made.settings)
    assert close_accounts_once(made.runtime, accounts) == 0  # still active: nothing to close
    deactivated = made.client.patch(
        f"/api/clinicians/{clinician['id']}", headers=made.headers("frontdesk"), json={"active": False}
    )
    assert deactivated.status_code == 200
    assert close_accounts_once(made.runtime, accounts) == 1
    assert close_accounts_once(made.runtime, accounts) == 0  # done once
    assert _user("dr.new@p.example")["enabled"] is False
    assert identity.password_grant(account.username, account.password).status_code in (400, 401)


def test_repeated_wrong_passwords_lock_the_account_for_a_while():
    account = identity.account("frontdesk", "lockout-check")

    def attempt(password: str) -> int:
        return identity.password_grant(account.username, password).status_code

    assert attempt(account.password) == 200
    for _ in range(5):
        assert attempt("wrong-password-123") in (400, 401)
    assert attempt(account.password) != 200  # the right password no longer works: brute-force protection


def _after_password(tmp_path, found) -> requests.Response:
    made = make_app("notifications", f"sqlite:///{tmp_path / 'n.db'}")
    start = made.client.get("/login")
    browser = requests.Session()
    page = browser.get(start.headers["Location"], timeout=10)
    for cookie in browser.cookies:
        cookie.secure = False
    form = re.search(r'id="kc-form-login"[^>]*action="([^"]+)"', page.text).group(1)
    data = {"username": found.username, "password": found.password, "credentialId": ""}
    return browser.post(html.unescape(form), data=data, allow_redirects=False, timeout=10)


def test_clinical_and_admin_roles_must_set_up_an_authenticator_the_front_desk_need_not(tmp_path):
    for role in ("clinician", "supervisor", "admin"):
        done = _after_password(tmp_path, identity.account(role, "k-mfa", otp=False))
        assert done.status_code == 302 and "required-action" in done.headers["Location"], role
        assert "CONFIGURE_TOTP" in done.headers["Location"], role
    desk = _after_password(tmp_path, identity.account("frontdesk", None, otp=False))
    assert desk.status_code == 302 and "/auth/callback?" in desk.headers["Location"]
    with_code = _after_password(tmp_path, identity.account("clinician", "k-mfa", otp=True))
    assert with_code.status_code == 200 and 'id="kc-otp-login-form"' in with_code.text


def test_an_integration_calls_the_api_with_a_client_credentials_token(tmp_path):
    """An integration (a billing system, say) is a confidential client whose service account has a role."""
    server = identity.provider()
    http = server.admin_session()
    realm_url = f"{server.url}/admin/realms/{keycloak.REALM}"
    client = {
        "clientId": "billing-integration",
        "publicClient": False,
        "secret": "billing-secret-0123456789",
        "standardFlowEnabled": False,
        "serviceAccountsEnabled": True,
        "defaultClientScopes": ["attune", "basic"],
    }
    assert http.post(f"{realm_url}/clients", json=client).status_code == 201
    (found,) = http.get(f"{realm_url}/clients", params={"clientId": "billing-integration"}).json()
    account = http.get(f"{realm_url}/clients/{found['id']}/service-account-user").json()
    role = http.get(f"{realm_url}/roles/frontdesk").json()
    http.post(f"{realm_url}/users/{account['id']}/role-mappings/realm", json=[role]).raise_for_status()
    token = requests.post(
        f"{server.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "billing-integration",
            "client_secret": client["secret"],
        },
        timeout=10,
    ).json()["access_token"]
    made = make_scheduling(f"sqlite:///{tmp_path / 's.db'}")
    headers = {"Authorization": f"Bearer {token}"}
    assert made.client.get("/api/clients", headers=headers).status_code == 200
    assert made.client.post("/api/clients", headers=headers, json={"legal_name": "Via Billing"}).status_code == 201
    assert (
        make_app("feedback", f"sqlite:///{tmp_path / 'f.db'}").client.get("/api/caseload", headers=headers).status_code
        == 403
    )  # a front-desk integration sees no clinical data
