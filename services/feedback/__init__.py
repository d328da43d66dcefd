"""Feedback: measurement-based care — questionnaires, scoring, progress and alerts."""

from __future__ import annotations

from flask import Flask

from services.feedback.settings import FeedbackSettings
from shared import logs
from shared.config import ServiceConfig
from shared.runtime import Runtime
from shared.web import ProblemApi, make_flask

SERVICE = "feedback"


def create_app(config: ServiceConfig | None = None, runtime: Runtime | None = None) -> Flask:
    config = config or ServiceConfig.from_env(SERVICE)
    logs.configure(SERVICE)
    runtime = runtime or Runtime.build(config)
    app = make_flask(SERVICE, runtime, __name__)
    app.extensions["feedback_settings"] = FeedbackSettings.from_config(config)

    from services.feedback import dashboard, views

    app.register_blueprint(views.bp)
    ProblemApi(app).register_blueprint(dashboard.api)
    app.register_blueprint(dashboard.pages)
    return app
