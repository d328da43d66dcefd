"""A minimal staff identity: signed bearer tokens carrying a role (and a clinician id for clinicians).

Stand-in until the staff-access work brings accounts and logins; every view asks through ``require``,
so replacing the token check later touches this module only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import abort, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

ROLES = ("frontdesk", "clinician", "supervisor", "admin")
COOKIE = "attune_staff"
MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    clinician_id: str | None = None


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="attune-staff")


def issue_token(secret: str, subject: str, role: str, clinician_id: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return _serializer(secret).dumps({"sub": subject, "role": role, "clinician_id": clinician_id})


def read_token(secret: str, token: str) -> Principal | None:
    try:
        data = _serializer(secret).loads(token, max_age=MAX_AGE)
    except BadSignature:
        return None
    return Principal(data["sub"], data["role"], data.get("clinician_id"))


def current_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else request.cookies.get(COOKIE)
    if not token:
        return None
    return read_token(current_app.config["AUTH_SECRET"], token)


def require(*roles: str):
    """Allow only staff with one of ``roles`` (401 without a valid token, 403 with the wrong role)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if principal is None:
                abort(401)
            if roles and principal.role not in roles:
                abort(403)
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator
