"""Feedback's composition root: the events it consumes, their handlers, and the expiry loop (used by the
worker process and the tests alike)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from services.feedback import alerts, assignments, handlers, measures
from services.feedback.metrics import feedback_state
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
    events.NOTIFICATION_FAILED: handlers.record_unreached_therapist,
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


def escalator(runtime: Runtime, settings: FeedbackSettings, clock=utcnow, every: float = 60.0):
    """One pass of the escalation loop: every ``every`` seconds, escalate urgent alerts left unacknowledged
    for ``FEEDBACK_ESCALATE_AFTER_HOURS``."""
    next_run = [time.monotonic()]

    def escalate_alerts(stop: threading.Event) -> None:
        if time.monotonic() >= next_run[0]:
            with transaction(runtime.sessions) as session:
                count = alerts.escalate_unacknowledged(session, clock(), timedelta(hours=settings.escalate_after_hours))
            next_run[0] = time.monotonic() + every
            if count:
                log.warning("alerts.escalated_unacknowledged", count=count)
        stop.wait(1.0)

    return escalate_alerts


def bootstrap(settings: FeedbackSettings, runtime: Runtime, clock=utcnow) -> Wiring:
    measures.use_extra_dir(settings.measures_dir)
    loops = [("expiry", expirer(runtime, clock)), ("escalation", escalator(runtime, settings, clock))]
    return wire(SERVICE, HANDLERS, {"settings": settings, "clock": clock}, loops=loops, metrics=[feedback_state])
