"""parked events

Revision ID: a1e893c10f28
Revises: 61bc1da8d2a4
Create Date: 2026-11-25 09:17:31.354324
"""

from shared.messaging import migrations


revision = 'a1e893c10f28'
down_revision = '61bc1da8d2a4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_parked_events()


def downgrade() -> None:
    migrations.drop_parked_events()
