"""staff sign-in sessions

Revision ID: 04aebadf68af
Revises: bab96ba83131
Create Date: 2026-11-25 11:09:55.249958
"""

from shared.messaging import migrations


revision = '04aebadf68af'
down_revision = 'bab96ba83131'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_staff_sessions()


def downgrade() -> None:
    migrations.drop_staff_sessions()
