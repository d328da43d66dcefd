"""outbox rows can be parked

Revision ID: b55f0393b247
Revises: f6e6776cefee
Create Date: 2026-11-25 09:30:46.691628
"""

from shared.messaging import migrations


revision = 'b55f0393b247'
down_revision = 'f6e6776cefee'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.add_outbox_parked_at()


def downgrade() -> None:
    migrations.drop_outbox_parked_at()
