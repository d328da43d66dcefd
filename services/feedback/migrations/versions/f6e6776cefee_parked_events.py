"""parked events

Revision ID: f6e6776cefee
Revises: 0b134a8c8be3
Create Date: 2026-11-25 09:17:32.054554
"""

from shared.messaging import migrations


revision = 'f6e6776cefee'
down_revision = '0b134a8c8be3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_parked_events()


def downgrade() -> None:
    migrations.drop_parked_events()
