"""Signed, expiring links that one service writes into an email and another honours (e.g. notifications writes
an appointment reminder's confirm/cancel links; scheduling acts on them). Both are given the same secret
(``ATTUNE_LINK_SECRET``, ``CommonSettings.link_secret``)."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer


def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"attune-link:{purpose}")


def sign(secret: str, purpose: str, payload: dict) -> str:
    return _serializer(secret, purpose).dumps(payload)


def verify(secret: str, purpose: str, token: str, max_age_seconds: int) -> dict | None:
    try:
        return _serializer(secret, purpose).loads(token, max_age=max_age_seconds)
    except BadSignature:
        return None
