"""Staff accounts at the identity provider, through Keycloak's admin REST API (the ``attune-admin`` service
account: manage-users only). Inviting creates the account with its role and clinician id and has Keycloak
email the invitation (set a password, and for clinical and admin roles an authenticator); disabling an
account also ends its sessions, and Keycloak's back-channel logout then ends them in every service.

With another provider (Entra ID, Google, Okta) accounts are managed there; these commands say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import requests

from shared.config import CommonSettings

OTP_ROLES = ("clinician", "supervisor", "admin")
INVITATION_LIFESPAN_S = 72 * 3600


class AccountError(RuntimeError):
    pass


@dataclass
class StaffAccounts:
    issuer: str
    client_id: str
    client_secret: str
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> StaffAccounts:
        if "/realms/" not in settings.oidc_issuer:
            raise AccountError("staff accounts are managed at your identity provider (it is not Keycloak)")
        return cls(settings.oidc_issuer, settings.oidc_admin_client_id, settings.oidc_admin_client_secret)

    @property
    def admin_url(self) -> str:
        base, realm = self.issuer.rsplit("/realms/", 1)
        return f"{base}/admin/realms/{realm}"

    def _http(self) -> requests.Session:
        token = requests.post(
            f"{self.issuer}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
            timeout=self.timeout,
        )
        if token.status_code != 200:
            raise AccountError(f"the identity provider refused the staff-admin client ({token.status_code})")
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        return http

    def invite(self, email: str, role: str, clinician_id: str | None = None) -> str:
        """Create the account and send the invitation; returns the provider's user id."""
        http = self._http()
        actions = ["UPDATE_PASSWORD", *(["CONFIGURE_TOTP"] if role in OTP_ROLES else [])]
        user = {"username": email, "email": email, "enabled": True, "requiredActions": actions}
        if clinician_id:
            user["attributes"] = {"clinician_id": [clinician_id]}
        created = http.post(f"{self.admin_url}/users", json=user, timeout=self.timeout)
        if created.status_code == 409:
            raise AccountError(f"an account for {email} already exists")
        if created.status_code != 201:
            raise AccountError(f"creating the account failed ({created.status_code})")
        user_id = created.headers["Location"].rsplit("/", 1)[1]
        found = http.get(f"{self.admin_url}/roles/{quote(role)}", timeout=self.timeout)
        if found.status_code != 200:
            raise AccountError(f"the provider has no role {role!r}")
        http.post(
            f"{self.admin_url}/users/{user_id}/role-mappings/realm", json=[found.json()], timeout=self.timeout
        ).raise_for_status()
        sent = http.put(
            f"{self.admin_url}/users/{user_id}/execute-actions-email",
            params={"lifespan": INVITATION_LIFESPAN_S},
            json=actions,
            timeout=self.timeout,
        )
        if sent.status_code >= 300:
            raise AccountError(f"the account exists but the invitation email failed ({sent.status_code})")
        return user_id

    def disable_clinician(self, clinician_id: str) -> int:
        """Disable every account linked to ``clinician_id`` and end its sessions; how many there were."""
        http = self._http()
        users = http.get(
            f"{self.admin_url}/users",
            params={"q": f"clinician_id:{clinician_id}", "briefRepresentation": "false"},
            timeout=self.timeout,
        )
        users.raise_for_status()
        linked = [u for u in users.json() if clinician_id in (u.get("attributes") or {}).get("clinician_id", [])]
        for user in linked:
            http.put(
                f"{self.admin_url}/users/{user['id']}", json={**user, "enabled": False}, timeout=self.timeout
            ).raise_for_status()
            http.post(f"{self.admin_url}/users/{user['id']}/logout", timeout=self.timeout).raise_for_status()
        return len(linked)
