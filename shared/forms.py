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


def guard_staff_pages(blueprint, *, read: tuple[str, ...], write: tuple[str, ...], signin_template: str) -> None:
    """Sign-in, roles and CSRF for a blueprint of staff pages (cookie sign-in): who may look (``read``), who
    may change anything (``write``), and a sign-in page for everyone else."""
    from flask import g, render_template

    from shared.auth import current_principal

    @blueprint.before_request
    def _guard():
        principal = current_principal()
        if principal is None:
            return render_template(signin_template), 401
        if principal.role not in read:
            abort(403)
        g.principal = principal
        g.csrf = csrf_token(principal.subject)
        if request.method == "POST":
            if principal.role not in write:
                abort(403)
            check_csrf(principal.subject)
        return None
