"""parked events

Revision ID: ef0d63c5ca7f
Revises: 41a12522cc51
Create Date: 2026-11-25 09:17:32.779904
"""

from shared.messaging import migrations


revision = 'ef0d63c5ca7f'
down_revision = '41a12522cc51'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_parked_events()


def downgrade() -> None:
    migrations.drop_parked_events()
