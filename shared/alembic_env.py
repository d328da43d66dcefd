"""The body of every service's ``migrations/env.py``: run migrations online against the configured URL."""

from __future__ import annotations

from alembic import context

from shared.db import make_engine
from shared.migrate import target_metadata


def run() -> None:
    config = context.config
    service = config.attributes["service"]
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata(service),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
