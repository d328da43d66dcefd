"""Notifications: questionnaire links, appointment messages and therapist alerts, each delivered once."""

from __future__ import annotations

from flask import Flask

from services.notifications import policy
from services.notifications.settings import NotificationsSettings
from shared import logs
from shared.runtime import Runtime
from shared.web import ProblemApi, limit_public_links, make_flask

SERVICE = NotificationsSettings.SERVICE


def create_app(settings: NotificationsSettings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or NotificationsSettings.from_env()
    logs.configure(SERVICE)
    runtime = runtime or Runtime.build(settings)
    app = make_flask(runtime, __name__, policy.POLICY)

    from services.notifications import api, pages, sms_webhooks, unsubscribe

    ProblemApi(app).register_blueprint(api.blp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(unsubscribe.bp)
    app.register_blueprint(sms_webhooks.bp)
    limit_public_links(app, unsubscribe.bp)
    return app
