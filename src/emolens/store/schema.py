"""The store's tables and the two column types that make SQLite and PostgreSQL read alike.

The tables here describe the schema at the newest migration (``emolens/store/migrations``);
they are used to build queries, never to create tables: migrations do that.

- ``UtcDateTime``: ``timestamp with time zone`` on PostgreSQL, the plain DATETIME text on
  SQLite. Aware datetimes are stored as UTC, naive ones are taken to be UTC already, and
  values read back are naive UTC on both backends (what the rest of emolens expects).
- ``JsonDict``: ``json`` on PostgreSQL (not ``jsonb``, which reorders keys: a model's label
  order is kept), JSON text on SQLite; Python sees a dict on both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator):
    """A point in time: timestamptz on PostgreSQL, DATETIME on SQLite; naive UTC in Python."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, datetime):
            return value
        utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value


class JsonDict(TypeDecorator):
    """A JSON object: ``json`` on PostgreSQL, text on SQLite; a dict in Python."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSON())
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value  # the json type serialises it
        return json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value


metadata = MetaData()

results_table = Table(
    "results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_key", String, nullable=False),
    Column("model", String, nullable=False, default=""),
    Column("source", String),
    Column("row", Integer),
    Column("group_name", String),
    Column("timestamp", UtcDateTime),
    Column("text", String),
    Column("text_hash", String(64)),
    Column("language", String(16)),
    Column("modality", String(16), nullable=False, default="text"),
    Column("label", String, nullable=False),
    Column("scores", JsonDict, nullable=False),
    Column("valence", Float),
    Column("arousal", Float),
    Column("t_start", Float),
    Column("t_end", Float),
    Column("created_at", UtcDateTime, nullable=False),
    Column("author", String),  # migration 0003: a name, or its salted hash (hash_authors)
    Column("url", String),  # migration 0003: where a collected item can be seen
    Column("item_id", String),  # migration 0006: the item's own id (--id-col, a post's id)
    Column("details", JsonDict),  # migration 0007: a few small details (sql.KEPT_DETAILS)
    UniqueConstraint("item_key", "model", name="uq_results_item_model"),
    Index("ix_results_source", "source"),
    Index("ix_results_group_name", "group_name"),
    Index("ix_results_timestamp", "timestamp"),
    Index("ix_results_label", "label"),
    Index("ix_results_created_at", "created_at"),  # migration 0002
    Index("ix_results_author", "author"),  # migration 0003
)

# Migration 0003: what a connector remembers between runs of one source for one model (an
# ETag, a cursor), so that `emolens ingest` and `emolens watch` fetch only what is new.
ingest_state_table = Table(
    "ingest_state",
    metadata,
    Column("source", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("state", JsonDict, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Migration 0004: alerts fired by `emolens watch`, for the log of what was sent and the
# dashboard.
alerts_table = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("label", String, nullable=False),
    Column("share", Float, nullable=False),
    Column("baseline", Float),
    Column("items", Integer, nullable=False),
    Column("message", String, nullable=False),
    Column("details", JsonDict, nullable=False),
    Index("ix_alerts_rule_created_at", "rule", "created_at"),
)

# Migration 0005: one row per export through the service (GET /v1/results?format=csv): who
# (the API key's id and name, never the key), which route and filters, how many rows, from
# which client address.
audit_table = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("key_id", String(16)),  # None when auth is off
    Column("key_name", String, nullable=False),
    Column("route", String, nullable=False),
    Column("filters", JsonDict, nullable=False),
    Column("rows_returned", Integer, nullable=False),
    Column("client", String),
    Index("ix_audit_log_created_at", "created_at"),
)
