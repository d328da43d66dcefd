"""gunicorn entry point: ``gunicorn services.scheduling.wsgi:app``."""

from services.scheduling import create_app

app = create_app()
