"""Results keep the item's own id (`--id-col`, a collected post's id), so that exports can be
joined back to the user's data.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("results", sa.Column("item_id", sa.String))


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:  # SQLite drops columns by copying
        batch.drop_column("item_id")
