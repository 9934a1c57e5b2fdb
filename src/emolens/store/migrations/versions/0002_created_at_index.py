"""Index results by when they were stored, for retention (`emolens purge --older-than`).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_results_created_at", "results", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_results_created_at", table_name="results")
