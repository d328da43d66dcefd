"""staff sign-in sessions

Revision ID: a00f25dd40df
Revises: 7dcb7feacc38
Create Date: 2026-11-25 11:09:53.891784
"""

from shared.messaging import migrations


revision = 'a00f25dd40df'
down_revision = '7dcb7feacc38'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_staff_sessions()


def downgrade() -> None:
    migrations.drop_staff_sessions()
