"""Staff sign-in for every service: OpenID Connect (authorization code + PKCE) for pages, bearer access tokens
for the JSON API, and server-side sessions that the provider's back-channel logout can end.

- Pages: ``/login`` sends the browser to the provider; ``/auth/callback`` checks state, nonce and the ID token
  (Authlib) and opens a session row; the cookie holds only a random id. Sessions end after the idle and
  absolute timeouts, on ``/logout`` (which ends the provider session too) and on the provider's back-channel
  logout (a staff member who signs out anywhere is signed out everywhere).
- API (``/api/``): ``Authorization: Bearer <access token>`` only; the page cookie is ignored there, so a
  cross-site form can never drive the API.

Who may do what is in each service's policy table (``shared/access.py``); this module only says who is asking.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template_string, request, session
from sqlalchemy import delete, or_

from shared import logs
from shared.db import utcnow
from shared.identity import AccessRefused, InvalidToken, Principal, TokenVerifier, principal_from_claims
from shared.messaging.tables import StaffSession

__all__ = ["Principal", "current_principal", "install", "safe_next"]

log = logs.get("auth")
SESSION_KEY = "staff_session"
TOUCH_EVERY = timedelta(seconds=60)  # a page view refreshes the idle clock at most this often (one write)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only. Anything that a browser could read as another
    origin (``//host``, ``/\\host``, ``https:``, control characters) becomes ``/``."""
    if not target or not target.startswith("/") or "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    return target


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def verifier(app: Flask | None = None) -> TokenVerifier:
    return (app or current_app).extensions["attune_verifier"]


def _runtime():
    return current_app.extensions["attune_runtime"]


def _bearer_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        claims = verifier().access_token(header[7:].strip())
    except InvalidToken as exc:
        log.info("auth.bearer_refused", reason=str(exc))
        return None
    try:
        return principal_from_claims(claims, current_app.extensions["attune_settings"])
    except AccessRefused as exc:
        g.access_refused = str(exc)
        return None


def _session_principal() -> Principal | None:
    raw = session.get(SESSION_KEY)
    if not raw:
        return None
    settings = current_app.extensions["attune_settings"]
    now = utcnow()
    with _runtime().sessions() as s, s.begin():
        row = s.get(StaffSession, _hash(raw))
        if row is None:
            session.pop(SESSION_KEY, None)
            return None
        idle = timedelta(minutes=settings.session_idle_minutes)
        if now - row.last_seen_at > idle or now - row.created_at > timedelta(hours=settings.session_max_hours):
            s.delete(row)
            session.pop(SESSION_KEY, None)
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            row.last_seen_at = now
        g.csrf = row.csrf_token
        return Principal(row.subject, frozenset(row.roles.split(",")), row.clinician_id)


def current_principal() -> Principal | None:
    """The signed-in staff member: a bearer token on the API, the session cookie on pages."""
    if "principal" not in g:
        api = request.path.startswith("/api/")
        g.principal = _bearer_principal() if api else _session_principal()
    return g.principal


def check_csrf() -> None:
    """A state-changing page request must carry its session's random token (``csrf`` form field)."""
    sent = request.form.get("csrf", "")
    if not sent or not secrets.compare_digest(sent, g.get("csrf", "")):
        abort(400, "This form has expired. Go back, reload the page and try again.")


SIGNED_OUT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Signed out</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<main style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto">
<h1>{{ title }}</h1><p>{{ message }}</p><p><a href="/login">Sign in</a></p></main></html>"""


def install(app: Flask) -> None:
    """The sign-in routes and the OIDC client, on every service."""
    settings = app.extensions["attune_settings"]
    app.extensions["attune_verifier"] = TokenVerifier(settings)
    oauth = OAuth(app)
    provider = oauth.register(
        "staff",
        client_id=settings.client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )
    bp = Blueprint("signin", __name__)
    base = settings.public_url(settings.service)

    @bp.get("/login")
    def login():
        session.pop(SESSION_KEY, None)
        session["after_login"] = safe_next(request.args.get("next"))
        return provider.authorize_redirect(f"{base}/auth/callback")

    @bp.get("/auth/callback")
    def callback():
        if "error" in request.args:
            return _refused(request.args.get("error_description") or "The sign-in was not completed.")
        try:
            token = provider.authorize_access_token()
        except Exception as exc:  # noqa: BLE001 - state, nonce, code or ID token refused: the person retries
            log.info("auth.callback_refused", reason=type(exc).__name__)
            return _refused("That sign-in could not be completed (it may have expired). Please sign in again.")
        claims = token.get("userinfo") or {}
        try:
            principal = principal_from_claims(claims, settings)
        except AccessRefused as exc:
            return _refused(str(exc))
        raw = secrets.token_urlsafe(32)
        now = utcnow()
        with _runtime().sessions() as s, s.begin():
            s.add(
                StaffSession(
                    id_hash=_hash(raw),
                    subject=principal.subject,
                    roles=",".join(sorted(principal.roles)),
                    clinician_id=principal.clinician_id,
                    provider_session=claims.get("sid"),
                    id_token=token.get("id_token", ""),
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    last_seen_at=now,
                )
            )
        target = session.pop("after_login", "/")
        session.clear()
        session[SESSION_KEY] = raw
        log.info("auth.signed_in", subject=principal.subject, roles=sorted(principal.roles))
        return redirect(target)

    @bp.post("/logout")
    def logout():
        raw = session.get(SESSION_KEY)
        id_token = None
        if raw:
            with _runtime().sessions() as s, s.begin():
                row = s.get(StaffSession, _hash(raw))
                if row is not None:
                    id_token = row.id_token
                    s.delete(row)
        session.clear()
        end = provider.load_server_metadata().get("end_session_endpoint")
        if not end:
            return redirect("/signed-out")
        query = {"post_logout_redirect_uri": f"{base}/signed-out", "client_id": settings.client_id}
        if id_token:
            query["id_token_hint"] = id_token
        return redirect(f"{end}?{urlencode(query)}")

    @bp.get("/signed-out")
    def signed_out():
        return render_template_string(SIGNED_OUT, title="You have signed out", message="You can close this tab.")

    @bp.post("/auth/backchannel-logout")
    def backchannel_logout():
        try:
            claims = verifier().logout_token(request.form.get("logout_token", ""))
        except InvalidToken as exc:
            log.info("auth.backchannel_refused", reason=str(exc))
            return {"error": "invalid_request"}, 400
        with _runtime().sessions() as s, s.begin():
            condition = (
                StaffSession.provider_session == claims["sid"]
                if claims.get("sid")
                else StaffSession.subject == claims["sub"]
            )
            ended = s.execute(delete(StaffSession).where(or_(condition))).rowcount
        log.info("auth.backchannel_logout", sessions=ended)
        return "", 200

    app.register_blueprint(bp)


def _refused(message: str):
    return render_template_string(SIGNED_OUT, title="You cannot sign in", message=message), 403
