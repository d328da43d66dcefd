"""staff sign-in sessions

Revision ID: 38742ed53393
Revises: 4a29c61eb4b6
Create Date: 2026-11-25 11:09:52.420520
"""

from shared.messaging import migrations


revision = '38742ed53393'
down_revision = '4a29c61eb4b6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_staff_sessions()


def downgrade() -> None:
    migrations.drop_staff_sessions()
