"""Common web setup: RFC 9457 problem+json errors, health endpoints, security headers, correlation ids."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from marshmallow import Schema, fields
from sqlalchemy import text
from werkzeug.exceptions import HTTPException, default_exceptions
from werkzeug.middleware.proxy_fix import ProxyFix

from shared import access, audit, auth, logs, metrics
from shared.errors import DomainError
from shared.messaging.outbox import correlation_id
from shared.runtime import Runtime

PROBLEM = "application/problem+json"
log = logs.get("web")


def problem(status: int, title: str, detail: str | None = None, **extra):
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.content_type = PROBLEM
    return response


class ProblemApi(Api):
    """flask-smorest with errors as problem+json; 422s list messages per field under ``errors``; and a
    self-contained ``/docs`` page rendered from the same OpenAPI document (no script from elsewhere)."""

    ERROR_SCHEMA = None  # set below: errors are documented as what they are, RFC 9457 problem details

    def _register_responses(self):
        """Error responses documented as ``application/problem+json`` with the problem-details schema."""
        default = self.DEFAULT_RESPONSE_CONTENT_TYPE
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = default

    def init_app(self, app, *args, **kwargs):
        super().init_app(app, *args, **kwargs)
        if "api_docs" not in app.view_functions:
            app.add_url_rule("/docs", "api_docs", lambda: render_docs(self))

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        extra = {}
        messages = data.get("messages")
        if messages:  # webargs: {"json": {"field": ["msg"]}}
            flat = {}
            for location, fields in messages.items():
                flat.update(fields if isinstance(fields, dict) else {location: fields})
            extra["errors"] = flat
        if data.get("errors"):
            extra["errors"] = data["errors"]
        detail = data.get("message") or error.description
        response = problem(error.code or 500, error.name, detail, **extra)
        for header, value in (data.get("headers") or {}).items():
            response.headers[header] = value
        return response


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error here is answered; ``errors`` lists messages per field."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict()


ProblemApi.ERROR_SCHEMA = ProblemSchema


def render_docs(api: Api):
    from flask import render_template_string

    spec = api.spec.to_dict()
    operations = [
        {"path": path, "method": method.upper(), **op}
        for path, item in sorted(spec.get("paths", {}).items())
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    return render_template_string(DOCS_PAGE, spec=spec, operations=operations)


DOCS_PAGE = (Path(__file__).parent / "api_docs.html").read_text()


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_REQUEST_BYTES = 1024 * 1024  # the largest form or JSON body any route accepts


def make_flask(runtime: Runtime, import_name: str, policy: dict[str, access.Access]) -> Flask:
    """The Flask app every service starts from: settings, staff sign-in and the service's access ``policy``
    (checked before every view), security headers, correlation ids, request logs, health endpoints, and one
    mapping of errors to problem+json (API) or an error page (pages)."""
    app = Flask(import_name)
    cfg = runtime.settings
    name = cfg.service
    production = cfg.environment == "production"
    if cfg.proxy_hops:
        hops = cfg.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    app.config.update(
        SECRET_KEY=cfg.secret_key,
        TESTING=cfg.testing,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SESSION_COOKIE_NAME=f"attune_{name}",  # the services share a host in development: one cookie each
        SESSION_COOKIE_SECURE=production,
        API_TITLE=f"Attune {name}",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["attune_runtime"] = runtime
    app.extensions["attune_settings"] = cfg
    auth.install(app)
    issuer = urlsplit(cfg.oidc_issuer)
    provider_origin = f"{issuer.scheme}://{issuer.netloc}"  # sign-out is a form that ends at the provider

    @app.before_request
    def _correlate():
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 8 <= len(incoming) <= 64 else str(uuid.uuid4())
        g.correlation_token = correlation_id.set(g.request_id)
        g.service_token = logs.service.set(name)

    access.enforce(app, policy)  # after the request has its id, before any view

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"script-src 'self'; frame-ancestors 'none'; form-action 'self' {provider_origin}",
        )
        response.headers["X-Request-ID"] = g.get("request_id", "")
        principal = g.get("principal")
        if not (request.endpoint or "").endswith("static"):
            response.headers["Cache-Control"] = "no-store"  # nothing a person saw stays in a shared cache
        if production:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint not in ("healthz", "readyz"):
            route = request.url_rule.rule if request.url_rule else None  # the template, never the raw path
            seconds = time.perf_counter() - g.get("started", time.perf_counter())
            method = request.method if request.method in KNOWN_METHODS else "other"  # a label set stays bounded
            metrics.HTTP_REQUEST_SECONDS.labels(name, method, route or "unmatched", str(response.status_code)).observe(
                seconds
            )
            log.info(
                "http.request",
                method=request.method,
                route=route,
                status=response.status_code,
                subject=principal.subject if principal else None,
                ms=round(seconds * 1000, 1),
            )
        return response

    @app.teardown_request
    def _uncorrelate(_exc):
        token = g.pop("correlation_token", None)
        if token is not None:
            correlation_id.reset(token)
        service_token = g.pop("service_token", None)
        if service_token is not None:
            logs.service.reset(service_token)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", service=name)

    @app.get("/readyz")
    def readyz():
        try:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return problem(503, "Service Unavailable", f"database: {logs.safe_error(exc)}")
        return jsonify(status="ready", service=name)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if wants_json():
            return problem(error.code or 500, error.name, error.description)
        return error

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        if wants_json():
            return problem(error.status, error.title, str(error), **error.problem_extra())
        return default_exceptions[error.status](str(error))

    audit.install(app)  # registered last, so it runs first after a view: the response it audits is final
    return app


def limit_public_links(app: Flask, *blueprints) -> None:
    """Rate-limit the routes a bearer link opens (questionnaire, reminder, unsubscribe, calendar feed) per client
    address, so nobody can guess tokens at speed. Counted in memory per process (a few workers share none)."""
    limiter = app.extensions.get("attune_limiter")
    if limiter is None:
        limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", default_limits=[])
        app.extensions["attune_limiter"] = limiter
    for bp in blueprints:
        limiter.limit(settings_of(app).public_link_rate_limit)(bp)


def runtime_of(app: Flask) -> Runtime:
    return app.extensions["attune_runtime"]


def settings_of(app: Flask):
    """The service's settings object (``services/<name>/settings.py``)."""
    return app.extensions["attune_settings"]
