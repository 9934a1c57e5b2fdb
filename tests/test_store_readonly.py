"""Reading commands (`export`, `report`, `audit`, `purge --dry-run`) create and migrate
nothing in a database that is not an emolens store: a foreign SQLite file, a 0-byte file or
a file that is not SQLite is refused (exit 1) and left byte-identical; an emolens store of an
older revision is still upgraded, as opening a store always does. Real CLI, real files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import inspect
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, EXIT_OK, app
from emolens.errors import StoreError
from emolens.store import ResultStore
from emolens.store.migrate import alembic_config, head_revision, schema_state
from emolens.store.schema import results_table
from emolens.store.sql import open_database

pytestmark = pytest.mark.usefixtures("isolated_settings")

READING = [["export"], ["report"], ["audit"], ["purge", "--older-than", "1d", "--dry-run"],
           ["purge", "--source", "x.csv", "--yes"]]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def foreign(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.close()
    return path


def zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def not_sqlite(path: Path) -> Path:
    path.write_text("id,name\n1,Ada\n" * 200, encoding="utf-8")
    return path


@pytest.mark.parametrize("args", READING, ids=lambda a: " ".join(a[:1] + a[-1:]))
@pytest.mark.parametrize("make", [foreign, zero_bytes, not_sqlite])
def test_a_database_that_is_not_an_emolens_store_is_refused_untouched(tmp_path, args, make):
    db = make(tmp_path / "theirs.db")
    before = db.read_bytes()
    done = run(*args, "--db", str(db))
    assert done.exit_code == EXIT_ERROR, done.output
    said = " ".join(done.output.split())
    why = "not an SQLite database" if make is not_sqlite else "no results table"
    assert f"{db} is not an emolens store ({why}" in said
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]  # no -wal, no -shm


def test_a_store_of_an_older_revision_is_upgraded_and_exported(tmp_path):
    db = str(tmp_path / "old.db")
    engine, _ = open_database(db)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
        conn.execute(results_table.insert().values(
            item_key="old", model="m@1", label="joy", modality="text", scores={"joy": 1.0},
            text="stored at 0005", created_at=pd.Timestamp("2024-01-01").to_pydatetime()))
    engine.dispose()
    done = run("export", "--db", db)
    assert done.exit_code == EXIT_OK, done.output
    assert "stored at 0005" in done.stdout
    engine, _ = open_database(db)
    assert schema_state(engine).current == head_revision()
    engine.dispose()


def test_must_exist_creates_nothing_on_every_backend(store_url):
    if "://" not in store_url:
        Path(store_url).parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(store_url).close()  # an empty SQLite file
    with pytest.raises(StoreError, match="is not an emolens store"):
        ResultStore(store_url, must_exist=True)
    engine, _ = open_database(store_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    with ResultStore(store_url) as store:  # a writer still creates the store
        assert store.count() == 0
    with ResultStore(store_url, must_exist=True) as store:
        assert store.count() == 0
