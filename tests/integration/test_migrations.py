"""Each service's Alembic migrations build exactly the schema its models describe, on both databases."""

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from shared.migrate import alembic_config, upgrade


@pytest.mark.parametrize("service", ["scheduling", "feedback", "notifications"])
def test_migrations_match_models(service, db_url):
    upgrade(service, db_url)
    command.check(alembic_config(service, db_url))  # raises when the models and the migrations differ
    tables = set(inspect(create_engine(db_url)).get_table_names())
    assert {"outbox", "inbox", "idempotent_requests", "alembic_version"} <= tables


def test_upgrade_is_repeatable(tmp_path):
    url = f"sqlite:///{tmp_path / 'again.db'}"
    upgrade("feedback", url)
    upgrade("feedback", url)  # already at head: a no-op, not an error
    assert "assignments" in inspect(create_engine(url)).get_table_names()
