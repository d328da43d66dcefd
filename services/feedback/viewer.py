"""The signed-in person as feedback's read models see them (``queries.Viewer``), built once per request."""

from __future__ import annotations

from flask import current_app, g

from services.feedback import queries
from shared.db import utcnow
from shared.web import settings_of


def current_viewer(session) -> queries.Viewer:
    if "viewer" not in g:
        practice_wide = settings_of(current_app).supervisors_see_practice
        g.viewer = queries.viewer(session, g.principal, utcnow(), practice_wide)
    return g.viewer


def report_scope(session) -> frozenset | None:
    """Whose finished episodes an outcome report covers: an admin's, the whole practice; a supervisor's, their
    own caseload and their supervisees' (or the practice, when supervisors see the practice)."""
    if "admin" in g.principal.roles:
        return None
    return current_viewer(session).clinicians
