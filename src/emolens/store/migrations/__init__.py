"""Alembic migrations of the result store (SQLite and PostgreSQL); see ``emolens.store.migrate``."""
