"""The dev stack's demo staff accounts, and how any staff account is written for a Keycloak import.

Passwords and one-time-code secrets here are for the local demo realm only; ``python -m deploy.keycloak.server
otp USERNAME`` prints a demo user's current code, as their authenticator app would.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StaffAccount:
    username: str
    email: str
    role: str
    password: str
    otp_secret: str | None = None  # None: no authenticator configured
    clinician_email: str | None = None  # the clinician in scheduling this account is (its id is looked up)
    extra_roles: tuple[str, ...] = ()  # a clinician who also works the front desk, an admin who also treats


DEMO_USERS = [
    StaffAccount("desk", "desk@practice.example", "frontdesk", "demo-desk-password-1"),
    StaffAccount(
        "ada",
        "ada.okafor@practice.example",
        "clinician",
        "demo-ada-password-1",
        otp_secret="demo-ada-otp-secret-01",  # noqa: S106 - demo realm only
        clinician_email="ada.okafor@practice.example",
    ),
    StaffAccount(
        "sam",
        "sam.lindqvist@practice.example",
        "supervisor",
        "demo-sam-password-1",
        otp_secret="demo-sam-otp-secret-01",  # noqa: S106
        clinician_email="sam.lindqvist@practice.example",
    ),
    StaffAccount(
        "admin",
        "admin@practice.example",
        "admin",
        "demo-admin-password-1",
        otp_secret="demo-admin-otp-secret-1",  # noqa: S106
    ),
]


def user_representation(account: StaffAccount, clinician_id: str | None = None) -> dict:
    """A Keycloak user with its realm role, clinician id attribute, password and (optionally) TOTP."""
    credentials = [{"type": "password", "value": account.password, "temporary": False}]
    if account.otp_secret:
        credentials.append(
            {
                "type": "otp",
                "userLabel": "authenticator",
                "secretData": f'{{"value":"{account.otp_secret}"}}',
                "credentialData": '{"subType":"totp","digits":6,"counter":0,"period":30,"algorithm":"HmacSHA1"}',
            }
        )
    user = {
        "username": account.username,
        "email": account.email,
        "emailVerified": True,
        "enabled": True,
        "firstName": account.username.title(),
        "lastName": account.role.title(),
        "realmRoles": [account.role, *account.extra_roles],
        "credentials": credentials,
    }
    if clinician_id:
        user["attributes"] = {"clinician_id": [clinician_id]}
    return user
