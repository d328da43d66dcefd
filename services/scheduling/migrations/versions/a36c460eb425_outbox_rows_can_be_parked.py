"""outbox rows can be parked

Revision ID: a36c460eb425
Revises: a1e893c10f28
Create Date: 2026-11-25 09:30:45.926502
"""

from shared.messaging import migrations


revision = 'a36c460eb425'
down_revision = 'a1e893c10f28'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.add_outbox_parked_at()


def downgrade() -> None:
    migrations.drop_outbox_parked_at()
