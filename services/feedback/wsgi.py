"""gunicorn entry point: ``gunicorn services.feedback.wsgi:app``."""

from services.feedback import create_app

app = create_app()
