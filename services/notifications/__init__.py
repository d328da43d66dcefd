"""Notifications: questionnaire links, appointment messages and therapist alerts, each delivered once."""

from __future__ import annotations

from flask import Flask

from services.notifications.settings import NotifySettings
from shared import logs
from shared.config import ServiceConfig
from shared.runtime import Runtime
from shared.web import ProblemApi, make_flask

SERVICE = "notifications"


def create_app(config: ServiceConfig | None = None, runtime: Runtime | None = None) -> Flask:
    config = config or ServiceConfig.from_env(SERVICE)
    logs.configure(SERVICE)
    runtime = runtime or Runtime.build(config)
    app = make_flask(SERVICE, runtime, __name__)
    app.extensions["notify_settings"] = NotifySettings.from_config(config)

    from services.notifications import views

    ProblemApi(app).register_blueprint(views.api)
    app.register_blueprint(views.pages)
    return app
