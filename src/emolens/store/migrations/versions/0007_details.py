"""Results keep a few of their details (a speech segment's voice and words scores, the fusion
weights), so that a re-run that reads them back from the store shows the same breakdown. Only
small, non-personal keys are kept (``emolens.store.sql.KEPT_DETAILS``), never the text.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON_TEXT = sa.String().with_variant(postgresql.JSON(), "postgresql")


def upgrade() -> None:
    op.add_column("results", sa.Column("details", JSON_TEXT))


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:  # SQLite drops columns by copying
        batch.drop_column("details")
