"""Scheduling: clinicians' calendars, clients, and the appointment lifecycle."""

from __future__ import annotations

from flask import Flask

from services.scheduling import policy
from services.scheduling.settings import SchedulingSettings
from shared import logs
from shared.runtime import Runtime
from shared.web import ProblemApi, limit_public_links, make_flask

SERVICE = SchedulingSettings.SERVICE


def create_app(settings: SchedulingSettings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or SchedulingSettings.from_env()
    logs.configure(SERVICE)
    runtime = runtime or Runtime.build(settings)
    app = make_flask(runtime, __name__, policy.POLICY)

    from services.scheduling import api, calendar_feed, cli, import_pages, pages, reminder_links
    from services.scheduling.schemas import PhoneNumber

    PhoneNumber.default_region = settings.phone_region

    ProblemApi(app).register_blueprint(api.blp)
    app.register_blueprint(calendar_feed.bp)
    app.register_blueprint(reminder_links.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(import_pages.bp)
    limit_public_links(app, calendar_feed.bp, reminder_links.bp)
    cli.register(app)
    return app
