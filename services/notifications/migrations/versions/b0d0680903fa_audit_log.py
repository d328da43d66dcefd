"""audit log

Revision ID: b0d0680903fa
Revises: 04aebadf68af
Create Date: 2026-11-25 11:29:38.388474
"""

from shared.messaging import migrations


revision = 'b0d0680903fa'
down_revision = '04aebadf68af'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_audit_log()


def downgrade() -> None:
    migrations.drop_audit_log()
