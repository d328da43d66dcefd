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
    events.NOTIFICATION_FAILED: handlers.record_delivery_problem,
}


def bootstrap(settings: SchedulingSettings, runtime: Runtime, clock=utcnow) -> Wiring:
    return wire(
        SERVICE, HANDLERS, {"settings": settings, "clock": clock}, loops=[("accounts", account_closer(runtime))]
    )
