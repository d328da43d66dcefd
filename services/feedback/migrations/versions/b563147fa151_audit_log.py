"""audit log

Revision ID: b563147fa151
Revises: dad41dc98997
Create Date: 2026-11-25 11:29:36.698325
"""

from shared.messaging import migrations


revision = 'b563147fa151'
down_revision = 'dad41dc98997'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_audit_log()


def downgrade() -> None:
    migrations.drop_audit_log()
