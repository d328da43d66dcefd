"""The one way a request touches its service's database: ``transaction()``, a unit of work that commits on
success and rolls back on any error, and ``@unit_of_work``, the same around a whole view plus
``Idempotency-Key`` support for POSTs. Inside either, ``session()`` is the request's session.

A stored idempotent response commits in the same transaction as the request's own changes, so a retried POST
either finds the first answer or finds nothing was done: a retried booking never creates two appointments.
Keys are scoped by the signed-in principal (and the path); a request without a valid principal is never
answered from the store, so a key cannot be used to read someone else's response.

The request's audit record is part of the same transaction: a change is never committed without its record,
and a request costs one commit, not two (refused and failed requests are recorded by the after-request hook).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterator

from flask import Response, current_app, g, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import audit
from shared.auth import current_principal
from shared.messaging.tables import IdempotentRequest
from shared.web import problem, runtime_of


@contextlib.contextmanager
def transaction() -> Iterator[Session]:
    """The request's unit of work. Used inside another (a view under ``@unit_of_work``), it joins that one."""
    if "session" in g:
        yield g.session
        return
    with runtime_of(current_app).sessions() as s, s.begin():
        g.session = s
        try:
            yield s
        finally:
            g.pop("session", None)


def session() -> Session:
    return g.session


def _scoped_key() -> str | None:
    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    principal = current_principal() if key else None
    if principal is None:
        return None
    return f"{principal.subject}:{request.path}:{key[:150]}"


def _replay(stored: IdempotentRequest, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        return problem(422, "Unprocessable Content", "This Idempotency-Key was used for a different request.")
    response = current_app.response_class(json.dumps(stored.body), status=stored.status, mimetype="application/json")
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _stored(key: str) -> IdempotentRequest | None:
    with runtime_of(current_app).sessions() as s:
        return s.get(IdempotentRequest, key)


def unit_of_work(view):
    """Run the whole view in one transaction; honour ``Idempotency-Key`` on POST."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = _scoped_key()
        fingerprint = hashlib.sha256(request.get_data() or b"").hexdigest() if key else None
        if key and (stored := _stored(key)) is not None:
            return _replay(stored, fingerprint)
        owner = "session" not in g  # the transaction is this view's own, not one it joined
        try:
            with transaction() as s:
                response = current_app.make_response(view(*args, **kwargs))
                if key and 200 <= response.status_code < 300 and response.is_json:
                    kept = {h: response.headers[h] for h in ("Location", "ETag") if h in response.headers}
                    s.add(
                        IdempotentRequest(
                            key=key,
                            fingerprint=fingerprint,
                            status=response.status_code,
                            body=response.get_json(),
                            headers=kept,
                        )
                    )
                audited = owner and audit.applies()
                if audited:
                    audit.record_or_refuse(s, response)
            if audited:
                audit.recorded()
            return response
        except IntegrityError:
            stored = _stored(key) if key else None  # a concurrent retry with the same key won the race
            if stored is None:
                raise
            return _replay(stored, fingerprint)

    return wrapper
