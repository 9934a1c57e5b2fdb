"""Collected items keep their author and URL; connectors keep their state between runs.

Adds ``results.author`` (indexed: `emolens purge --author`) and ``results.url``, and the
``ingest_state`` table (one JSON object per source and model: an ETag, a cursor).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = sa.DateTime().with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
JSON_TEXT = sa.String().with_variant(postgresql.JSON(), "postgresql")


def upgrade() -> None:
    op.add_column("results", sa.Column("author", sa.String))
    op.add_column("results", sa.Column("url", sa.String))
    op.create_index("ix_results_author", "results", ["author"])
    op.create_table(
        "ingest_state",
        sa.Column("source", sa.String, primary_key=True),
        sa.Column("model", sa.String, primary_key=True),
        sa.Column("state", JSON_TEXT, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_state")
    op.drop_index("ix_results_author", table_name="results")
    with op.batch_alter_table("results") as batch:  # SQLite drops columns by copying
        batch.drop_column("url")
        batch.drop_column("author")
