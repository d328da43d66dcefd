"""Staff accounts at the real Keycloak: an invitation creates the account (role, clinician id, a password and
an authenticator to set up) and Keycloak emails it; deactivating a clinician disables their account."""

from __future__ import annotations

import requests

from deploy.keycloak import server as keycloak
from services.scheduling.accounts import close_accounts_once
from shared.staff_accounts import StaffAccounts
from tests.support import identity
from tests.support.apps import make_scheduling


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
    account = identity.account("clinician", clinician["id"])
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
    refused = requests.post(
        f"{server.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": keycloak.DEV_CLIENT,
            "username": account.username,
            "password": account.password,
        },
        timeout=10,
    )
    assert refused.status_code in (400, 401)
