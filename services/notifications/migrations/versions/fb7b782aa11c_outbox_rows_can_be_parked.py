"""outbox rows can be parked

Revision ID: fb7b782aa11c
Revises: ef0d63c5ca7f
Create Date: 2026-11-25 09:30:47.432348
"""

from shared.messaging import migrations


revision = 'fb7b782aa11c'
down_revision = 'ef0d63c5ca7f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.add_outbox_parked_at()


def downgrade() -> None:
    migrations.drop_outbox_parked_at()
