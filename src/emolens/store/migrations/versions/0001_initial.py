"""The schema emolens had before migrations: results and api_keys.

Databases made before alembic was used already have these tables (created by SQLAlchemy's
``create_all``, with the same columns and names), so a table that exists is left as it is:
upgrading such a database only records this revision.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# timestamptz and json on PostgreSQL; the plain DATETIME and VARCHAR that SQLite files had.
TIME = sa.DateTime().with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
JSON_TEXT = sa.String().with_variant(postgresql.JSON(), "postgresql")


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "results" not in have:
        _create_results()
    if "api_keys" not in have:
        op.create_table(
            "api_keys",
            sa.Column("id", sa.String(16), primary_key=True),
            sa.Column("name", sa.String, nullable=False),
            sa.Column("salt", sa.String(32), nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.Column("revoked_at", TIME),
        )


def _create_results() -> None:
    op.create_table(
        "results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_key", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("source", sa.String),
        sa.Column("row", sa.Integer),
        sa.Column("group_name", sa.String),
        sa.Column("timestamp", TIME),
        sa.Column("text", sa.String),
        sa.Column("text_hash", sa.String(64)),
        sa.Column("language", sa.String(16)),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("label", sa.String, nullable=False),
        sa.Column("scores", JSON_TEXT, nullable=False),
        sa.Column("valence", sa.Float),
        sa.Column("arousal", sa.Float),
        sa.Column("t_start", sa.Float),
        sa.Column("t_end", sa.Float),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("item_key", "model", name="uq_results_item_model"),
    )
    for column in ("source", "group_name", "timestamp", "label"):
        op.create_index(f"ix_results_{column}", "results", [column])


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("results")
