"""Feedback's composition root: the events it consumes, their handlers, and the expiry loop (used by the
worker process and the tests alike)."""

from __future__ import annotations

import threading
import time

from services.feedback import assignments, handlers, measures
from services.feedback.settings import FeedbackSettings
from shared import logs
from shared.db import transaction, utcnow
from shared.events import catalog as events
from shared.runtime import Runtime
from shared.wiring import Wiring, wire

SERVICE = "feedback"
log = logs.get("feedback.worker")

HANDLERS = {
    events.CLIENT_REGISTERED: handlers.upsert_client,
    events.CLIENT_UPDATED: handlers.upsert_client,
    events.CLIENT_DISCHARGED: handlers.discharge_client,
    events.CLINICIAN_REGISTERED: handlers.upsert_clinician,
    events.CLINICIAN_UPDATED: handlers.upsert_clinician,
    events.SESSION_COMPLETED: handlers.issue_after_session,
    events.APPOINTMENT_BOOKED: handlers.issue_baseline,
}


def expirer(runtime: Runtime, clock=utcnow, every: float = 60.0):
    """One pass of the expiry loop: every ``every`` seconds, expire unanswered questionnaires past their time
    (emitting ``questionnaire.expired`` for each). A pass lasts a second, so the loop's health stays current."""
    next_run = [time.monotonic() + every]

    def expire_questionnaires(stop: threading.Event) -> None:
        if time.monotonic() >= next_run[0]:
            with transaction(runtime.sessions) as session:
                count = assignments.expire_due(session, clock())
            next_run[0] = time.monotonic() + every
            if count:
                log.info("questionnaires.expired", count=count)
        stop.wait(1.0)

    return expire_questionnaires


def bootstrap(settings: FeedbackSettings, runtime: Runtime, clock=utcnow) -> Wiring:
    measures.use_extra_dir(settings.measures_dir)
    return wire(SERVICE, HANDLERS, {"settings": settings, "clock": clock}, loops=[("expiry", expirer(runtime, clock))])
