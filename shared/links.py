"""Signed, expiring links that one service writes into an email and another honours (e.g. notifications writes
an appointment reminder's confirm/cancel links; scheduling acts on them). Both read ATTUNE_LINK_SECRET."""

from __future__ import annotations

import os

from itsdangerous import BadSignature, URLSafeTimedSerializer

DEV_SECRET = "dev-only-link-secret-change-me"  # noqa: S105 - development default; production sets its own


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(os.environ.get("ATTUNE_LINK_SECRET", DEV_SECRET), salt=f"attune-link:{purpose}")


def sign(purpose: str, payload: dict) -> str:
    return _serializer(purpose).dumps(payload)


def verify(purpose: str, token: str, max_age_seconds: int) -> dict | None:
    try:
        return _serializer(purpose).loads(token, max_age=max_age_seconds)
    except BadSignature:
        return None
