"""The audit log: one row per export through the service (who, which route and filters, how
many rows, from where). Keys appear by id and name only.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIME = sa.DateTime().with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
JSON_TEXT = sa.String().with_variant(postgresql.JSON(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("key_id", sa.String(16)),
        sa.Column("key_name", sa.String, nullable=False),
        sa.Column("route", sa.String, nullable=False),
        sa.Column("filters", JSON_TEXT, nullable=False),
        sa.Column("rows_returned", sa.Integer, nullable=False),
        sa.Column("client", sa.String),
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"])


def downgrade() -> None:
    op.drop_table("audit_log")
