"""Feedback: measurement-based care — questionnaires, scoring, progress and alerts."""

from __future__ import annotations

from flask import Flask

from services.feedback import measures, policy
from services.feedback.settings import FeedbackSettings
from shared import logs
from shared.runtime import Runtime
from shared.web import ProblemApi, limit_public_links, make_flask

SERVICE = FeedbackSettings.SERVICE


def create_app(settings: FeedbackSettings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or FeedbackSettings.from_env()
    logs.configure(SERVICE)
    runtime = runtime or Runtime.build(settings)
    app = make_flask(runtime, __name__, policy.POLICY)
    measures.use_extra_dir(settings.measures_dir)

    from services.feedback import api, cli, kiosk_pages, pages, questionnaire_form, shared_report

    ProblemApi(app).register_blueprint(api.blp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(questionnaire_form.bp)
    app.register_blueprint(kiosk_pages.bp)
    app.register_blueprint(shared_report.bp)
    limit_public_links(app, questionnaire_form.bp, shared_report.bp)
    cli.register(app)
    return app
