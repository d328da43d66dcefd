"""audit log

Revision ID: 3b6ecc43e095
Revises: 38742ed53393
Create Date: 2026-11-25 11:29:34.924372
"""

from shared.messaging import migrations


revision = '3b6ecc43e095'
down_revision = '38742ed53393'
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrations.create_audit_log()


def downgrade() -> None:
    migrations.drop_audit_log()
