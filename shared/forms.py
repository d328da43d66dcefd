"""CSRF tokens for staff pages signed in by cookie: a hidden field bound to the signed-in person."""

from __future__ import annotations

from flask import abort, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="staff-form")


def csrf_token(subject: str) -> str:
    return _serializer().dumps(subject)


def check_csrf(subject: str) -> None:
    try:
        if _serializer().loads(request.form.get("csrf", "")) != subject:
            abort(400)
    except BadSignature:
        abort(400)
