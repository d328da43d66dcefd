"""Scheduling's composition root: the events it consumes and their handlers (used by the worker process and
the tests alike)."""

from __future__ import annotations

from services.scheduling import handlers
from services.scheduling.accounts import account_closer
from services.scheduling.settings import SchedulingSettings
from shared.db import utcnow
from shared.events import catalog as events
from shared.runtime import Runtime
from shared.wiring import Wiring, wire

SERVICE = "scheduling"

HANDLERS = {
    events.NOTIFICATION_SENT: handlers.record_message,
    events.NOTIFICATION_FAILED: handlers.record_delivery_problem,
    events.NOTIFICATION_CANCELLED: handlers.record_message,
    events.CLIENT_OPTED_OUT: handlers.client_opted_out,
    events.CLIENT_TEXTS_STOPPED: handlers.client_texts_stopped,
    events.QUESTIONNAIRE_ISSUED: handlers.questionnaire_issued,
    events.QUESTIONNAIRE_COMPLETED: handlers.questionnaire_completed,
    events.QUESTIONNAIRE_EXPIRED: handlers.questionnaire_expired,
    events.QUESTIONNAIRE_SKIPPED: handlers.questionnaire_skipped,
    events.QUESTIONNAIRE_OPENED: handlers.questionnaire_opened,
}


def bootstrap(settings: SchedulingSettings, runtime: Runtime, clock=utcnow) -> Wiring:
    return wire(
        SERVICE, HANDLERS, {"settings": settings, "clock": clock}, loops=[("accounts", account_closer(runtime))]
    )
