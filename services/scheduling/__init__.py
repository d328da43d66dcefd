"""Scheduling: clinicians' calendars, clients, and the appointment lifecycle."""

from __future__ import annotations

import os

from flask import Flask

from services.scheduling.appointments import BookingConflict, StaleVersion
from services.scheduling.booking import RuleViolation
from services.scheduling.directory import NotFound
from services.scheduling.recurrence import RecurrenceError
from services.scheduling.series import SeriesConflict
from shared import logs
from shared.config import ServiceConfig
from shared.runtime import Runtime
from shared.web import ProblemApi, make_flask, problem

SERVICE = "scheduling"


def create_app(config: ServiceConfig | None = None, runtime: Runtime | None = None) -> Flask:
    config = config or ServiceConfig.from_env(SERVICE)
    logs.configure(SERVICE)
    runtime = runtime or Runtime.build(config)
    app = make_flask(SERVICE, runtime, __name__)
    app.config["LATE_CANCEL_HOURS"] = float(
        config.extra.get("late_cancel_hours", os.environ.get("LATE_CANCEL_HOURS", 24))
    )
    app.config["PRACTICE_TIMEZONE"] = config.extra.get("practice_timezone") or os.environ.get(
        "PRACTICE_TIMEZONE", "Europe/London"
    )

    from services.scheduling import api, calendar_feed, reminder_links, views

    ProblemApi(app).register_blueprint(api.blp)
    app.register_blueprint(calendar_feed.bp)
    app.register_blueprint(reminder_links.bp)
    app.register_blueprint(views.bp)

    @app.errorhandler(BookingConflict)
    def _conflict(exc: BookingConflict):
        return problem(409, "Conflict", str(exc), conflicts=exc.conflicts)

    @app.errorhandler(SeriesConflict)
    def _series_conflict(exc: SeriesConflict):
        return problem(409, "Conflict", str(exc), occurrences=exc.report)

    @app.errorhandler(RecurrenceError)
    def _bad_rule(exc: RecurrenceError):
        return problem(422, "Unprocessable Content", str(exc), errors={"rule": [str(exc)]})

    @app.errorhandler(RuleViolation)
    def _rule(exc: RuleViolation):
        return problem(409, "Conflict", str(exc))

    @app.errorhandler(NotFound)
    def _missing(exc: NotFound):
        return problem(404, "Not Found", str(exc))

    @app.errorhandler(StaleVersion)
    def _stale(exc: StaleVersion):
        return problem(412, "Precondition Failed", str(exc), current_version=exc.current)

    from services.scheduling.cli import register

    register(app)
    return app
