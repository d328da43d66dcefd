"""Authorization as data: each service declares, for every route (Flask endpoint), which roles may read it,
which may change through it, and which ownership rule its view applies. One ``before_request`` enforces the
table before any view (and before any idempotent replay) runs; a route missing from the table is refused, and
a test fails for it. ``docs/security.md`` prints the tables.

Ownership (a clinician sees only their own clients) needs the data, so the views apply it through the
service's query helpers; the ``owner`` text names the rule, and the route x role x ownership test checks it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask, abort, g, redirect, request, url_for

from shared.auth import check_csrf, current_principal

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
ALL = ("frontdesk", "clinician", "supervisor", "admin")
CLINICAL = ("clinician", "supervisor")


@dataclass(frozen=True)
class Access:
    read: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    owner: str = ""  # the ownership rule the view applies, in words
    public: bool = False  # no sign-in (health, sign-in itself, links that carry their own signed token)

    def roles_for(self, method: str) -> frozenset[str]:
        return self.read if method in READ_METHODS else self.write


def allow(read: Iterable[str] = (), write: Iterable[str] = (), owner: str = "") -> Access:
    return Access(frozenset(read), frozenset(write), owner)


PUBLIC = Access(public=True)
LINK = Access(public=True, owner="the link's own token (single use or signed), rate-limited")

# Routes every service has (``shared/web.py``, ``shared/auth.py``, flask-smorest's OpenAPI document).
COMMON = {
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    "static": PUBLIC,
    "api_docs": PUBLIC,
    "api-docs.openapi_json": PUBLIC,
    "signin.login": PUBLIC,
    "signin.callback": PUBLIC,
    "signin.logout": PUBLIC,  # ends whatever session the cookie names; CSRF-safe (only ever signs out)
    "signin.signed_out": PUBLIC,
    "signin.backchannel_logout": PUBLIC,  # authenticated by the provider's signed logout token
    "audit.page": Access(frozenset({"admin"}), frozenset(), "the audit trail holds ids, never clinical content"),
}


def enforce(app: Flask, policy: dict[str, Access]) -> None:
    """Check every request against ``policy`` before its view runs: 401 without a valid sign-in (pages are
    sent to sign in), 403 for a role the table does not allow, 400 for a page form without its session's
    CSRF token."""
    table = {**COMMON, **policy}
    app.extensions["attune_policy"] = table

    @app.before_request
    def _authorize():
        endpoint = request.endpoint
        if endpoint is None:
            return None  # no such route: Flask answers 404
        rule = table.get(endpoint)
        if rule is None:
            abort(403, "This route has no access policy.")  # fail closed; a test keeps the table complete
        if rule.public:
            return None
        principal = current_principal()
        if principal is None:
            if g.get("access_refused"):
                abort(403, g.access_refused)
            if request.method in READ_METHODS and not request.path.startswith("/api/"):
                return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
            abort(401)
        if not principal.has(*rule.roles_for(request.method)):
            abort(403)
        if request.method not in READ_METHODS and not request.path.startswith("/api/"):
            check_csrf()
        return None


def matrix(policy: dict[str, Access]) -> list[tuple[str, str, str, str]]:
    """(endpoint, read roles, write roles, ownership) rows for docs/security.md."""
    rows = []
    for endpoint, rule in sorted({**COMMON, **policy}.items()):
        if rule.public:
            rows.append((endpoint, "anyone", "anyone", rule.owner or "public"))
        else:
            rows.append(
                (endpoint, ", ".join(sorted(rule.read)) or "-", ", ".join(sorted(rule.write)) or "-", rule.owner)
            )
    return rows
