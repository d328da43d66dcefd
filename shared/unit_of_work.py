"""One transaction per API request, with ``Idempotency-Key`` support for POSTs.

The stored response commits in the same transaction as the request's own changes, so a retried POST either
finds the first answer or finds nothing was done: a retried booking never creates two appointments.
"""

from __future__ import annotations

import functools
import hashlib
import json

from flask import Response, current_app, g, request
from sqlalchemy import JSON, Integer, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import UTCDateTime, utcnow
from shared.messaging.tables import MessagingBase
from shared.web import problem


class IdempotentRequest(MessagingBase):
    __tablename__ = "idempotent_requests"

    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict] = mapped_column(JSON)
    headers: Mapped[dict] = mapped_column(JSON)
    created_at = mapped_column(UTCDateTime, default=utcnow)


def _replay(stored: IdempotentRequest, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        return problem(422, "Unprocessable Content", "This Idempotency-Key was used for a different request.")
    response = current_app.response_class(json.dumps(stored.body), status=stored.status, mimetype="application/json")
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def unit_of_work(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        sessions = current_app.extensions["attune_runtime"].sessions
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        scoped = fingerprint = None
        if key:
            principal = g.get("principal")
            scoped = f"{principal.subject if principal else '-'}:{request.path}:{key[:150]}"
            fingerprint = hashlib.sha256(request.get_data() or b"").hexdigest()
            with sessions() as session:
                stored = session.get(IdempotentRequest, scoped)
                if stored is not None:
                    return _replay(stored, fingerprint)
        try:
            with sessions() as session, session.begin():
                g.session = session
                response = current_app.make_response(view(*args, **kwargs))
                if scoped and 200 <= response.status_code < 300 and response.is_json:
                    kept = {h: response.headers[h] for h in ("Location", "ETag") if h in response.headers}
                    session.add(
                        IdempotentRequest(
                            key=scoped,
                            fingerprint=fingerprint,
                            status=response.status_code,
                            body=response.get_json(),
                            headers=kept,
                        )
                    )
            return response
        except IntegrityError:
            if not scoped:
                raise
            with sessions() as session:  # a concurrent retry with the same key won the race
                stored = session.get(IdempotentRequest, scoped)
                if stored is None:
                    raise
                return _replay(stored, fingerprint)
        finally:
            g.pop("session", None)

    return wrapper


def session():
    return g.session
