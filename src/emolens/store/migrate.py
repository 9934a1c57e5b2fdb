"""Schema migrations of the result store (alembic): bring a database to the newest revision.

Opening a ``ResultStore`` calls ``upgrade``; ``emolens db upgrade`` and ``emolens db current``
do it by hand. The upgrade holds a lock for its whole transaction (an advisory lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so processes opening a new database at the same
time do not race each other: the first upgrades, the others find it done.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from emolens.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x656D6F6C656E73  # 'emolens' in ASCII: the advisory lock of upgrades


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema is: its revision (None: never migrated) and the newest."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        """At the newest revision."""
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic Config for the packaged migrations, running on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision the installed emolens knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS}"
    return head


def schema_state(engine: Engine) -> SchemaState:
    """The database's revision and the newest one, without changing anything."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return SchemaState(current, head_revision())


def upgrade(engine: Engine, where: str) -> SchemaState:
    """Apply the migrations the database lacks; returns the state it was in before.

    A database made before migrations existed (its tables already there) is only stamped.
    Raises StoreError for a database at a revision this emolens does not know (made by a
    newer version).
    """
    before = schema_state(engine)
    if before.up_to_date:
        return before
    _check_known(before.current, where)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            # pysqlite starts no transaction before DDL; this one also takes the write lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            command.upgrade(alembic_config(conn), "head")
        except CommandError as exc:
            raise StoreError(f"Could not upgrade the result store {where}: {exc}") from exc
    return before


def _check_known(revision: str | None, where: str) -> None:
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError as exc:
        raise StoreError(
            f"The result store {where} is at schema revision {revision!r}, which this version "
            f"of emolens does not know (its newest is {head_revision()!r}); it was made by a "
            "newer emolens: upgrade emolens, or use another database."
        ) from exc
