"""Alerts fired by `emolens watch`: which rule, when, the share that fired it and the message.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.DateTime().with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
JSON_TEXT = sa.String().with_variant(postgresql.JSON(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("label", sa.String, nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("baseline", sa.Float),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("message", sa.String, nullable=False),
        sa.Column("details", JSON_TEXT, nullable=False),
    )
    op.create_index("ix_alerts_rule_created_at", "alerts", ["rule", "created_at"])


def downgrade() -> None:
    op.drop_table("alerts")
