from shared.alembic_env import run

run()
