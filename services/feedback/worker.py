"""Feedback's worker: consumes scheduling's events, publishes its outbox, expires unanswered questionnaires."""

from __future__ import annotations

import threading

from services.feedback import SERVICE, assignments
from services.feedback.handlers import handlers
from services.feedback.settings import FeedbackSettings
from shared import logs
from shared.config import ServiceConfig
from shared.db import transaction, utcnow
from shared.runtime import Runtime
from shared.worker import run_forever

SOURCES = ["scheduling", "notifications"]
log = logs.get("feedback.worker")


def make_expirer(runtime: Runtime, every: float = 60.0):
    def expire_questionnaires(stop: threading.Event) -> None:
        while not stop.wait(every):
            with transaction(runtime.sessions) as session:
                count = assignments.expire_due(session, utcnow())
            if count:
                log.info("questionnaires.expired", count=count)

    return expire_questionnaires


def main() -> None:
    logs.configure(SERVICE)
    config = ServiceConfig.from_env(SERVICE)
    runtime = Runtime.build(config)
    run_forever(runtime, handlers(FeedbackSettings.from_config(config)), SOURCES, extra=[make_expirer(runtime)])


if __name__ == "__main__":
    main()
