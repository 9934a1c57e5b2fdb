"""Schema migrations (alembic) on SQLite and PostgreSQL: new stores, pre-migration SQLite files,
stores opened at once by several threads, unknown revisions, and `emolens db upgrade|current`."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from emolens.cli import app
from emolens.errors import StoreError
from emolens.store import ResultStore
from emolens.store.migrate import alembic_config, head_revision, schema_state
from emolens.store.schema import results_table
from emolens.store.sql import open_database

# The tables as emolens made them before it used alembic (SQLAlchemy's create_all, copied
# from a database that version created), with rows written the way it wrote them.
LEGACY_SCHEMA = """
CREATE TABLE results (
    id INTEGER NOT NULL, item_key VARCHAR NOT NULL, model VARCHAR NOT NULL, source VARCHAR,
    "row" INTEGER, group_name VARCHAR, timestamp DATETIME, text VARCHAR,
    text_hash VARCHAR(64), language VARCHAR(16), modality VARCHAR(16) NOT NULL,
    label VARCHAR NOT NULL, scores VARCHAR NOT NULL, valence FLOAT, arousal FLOAT,
    t_start FLOAT, t_end FLOAT, created_at DATETIME NOT NULL, PRIMARY KEY (id),
    CONSTRAINT uq_results_item_model UNIQUE (item_key, model)
);
CREATE INDEX ix_results_timestamp ON results (timestamp);
CREATE INDEX ix_results_label ON results (label);
CREATE INDEX ix_results_source ON results (source);
CREATE INDEX ix_results_group_name ON results (group_name);
CREATE TABLE api_keys (
    id VARCHAR(16) NOT NULL, name VARCHAR NOT NULL, salt VARCHAR(32) NOT NULL,
    hash VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL, revoked_at DATETIME,
    PRIMARY KEY (id)
);
INSERT INTO results (item_key, model, source, "row", group_name, timestamp, text, text_hash,
    language, modality, label, scores, valence, arousal, created_at)
VALUES ('k1', 'm@1', 'a.csv', 1, '客服', '2024-05-01 02:00:00.000000', '气死我了', 'h1', 'zh',
    'text', 'anger', '{"anger": 0.7, "joy": 0.1, "neutral": 0.2}', -0.5, 0.6,
    '2024-06-01 00:00:00.000000'),
    ('k2', 'm@1', 'a.csv', 2, NULL, NULL, 'so happy', 'h2', 'en', 'text', 'joy',
    '{"anger": 0.1, "joy": 0.8, "neutral": 0.1}', 0.7, 0.4, '2024-06-01 00:00:01.000000');
INSERT INTO api_keys VALUES ('abcd1234', 'ci', 'salt', 'hash', '2024-06-01 00:00:00.000000',
    NULL);
"""


def test_new_store_is_at_the_newest_revision(store_url):
    with ResultStore(store_url) as store:
        state = schema_state(store._engine)
        tables = set(inspect(store._engine).get_table_names())
    assert state.current == state.head == head_revision()
    assert {"results", "api_keys", "alembic_version"} <= tables


def test_sqlite_file_made_before_migrations_is_stamped_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(LEGACY_SCHEMA)
    with ResultStore(str(path)) as store:
        assert schema_state(store._engine).up_to_date
        frame = store.to_frame().set_index("item_key")
        assert store.add([]) == 0
    assert list(frame.index) == ["k1", "k2"]
    assert frame.loc["k1", "text"] == "气死我了" and frame.loc["k1", "group"] == "客服"
    assert frame.loc["k1", "p_anger"] == pytest.approx(0.7)
    assert frame.loc["k1", "timestamp"] == datetime(2024, 5, 1, 2)
    assert "ix_results_created_at" in index_names(str(path))  # later revisions applied
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone()[0] == 1
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]


def index_names(url: str) -> set[str]:
    engine, _ = open_database(url)
    try:
        return {i["name"] for i in inspect(engine).get_indexes("results")}
    finally:
        engine.dispose()


def test_a_store_at_the_first_revision_is_upgraded_and_keeps_its_rows(store_url):
    engine, _ = open_database(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(results_table.insert(), {
            "item_key": "k1", "model": "m", "label": "joy", "modality": "text",
            "scores": {"joy": 1.0}, "created_at": datetime(2024, 1, 1), "text": "old row"})
    engine.dispose()
    assert "ix_results_created_at" not in index_names(store_url)
    with ResultStore(store_url) as store:
        assert schema_state(store._engine).up_to_date
        assert store.to_frame()["text"].tolist() == ["old row"]
    assert "ix_results_created_at" in index_names(store_url)


def test_results_stored_before_the_details_column_read_back_without_details(store_url):
    engine, _ = open_database(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0006")
        conn.execute(text("INSERT INTO results (item_key, model, label, modality, scores, "
                          "created_at) VALUES ('k1', 'm', 'joy', 'speech', '{\"joy\": 1.0}', "
                          "'2024-01-01 00:00:00')"))
    engine.dispose()
    with ResultStore(store_url) as store:
        (old,), = store.iter_results()
        assert old.scores == {"joy": 1.0} and set(old.details) == {"stored_at"}
        assert store.add([old.model_copy(update={"item_key": "k2", "details": {
            "voice": {"joy": 1.0}}})]) == 1
        found = [r.details.get("voice") for chunk in store.iter_results() for r in chunk]
        assert found == [None, {"joy": 1.0}]
    engine, _ = open_database(store_url)
    with engine.begin() as conn:  # and back down: the column goes, the rows stay
        command.downgrade(alembic_config(conn), "0006")
        assert conn.execute(text("SELECT count(*) FROM results")).scalar_one() == 2
    engine.dispose()
    assert "details" not in {c["name"] for c in column_info(store_url)}


def column_info(url: str) -> list[dict]:
    engine, _ = open_database(url)
    try:
        return inspect(engine).get_columns("results")
    finally:
        engine.dispose()


def test_stores_opened_at_once_on_a_new_database_all_work(store_url):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_and_count() -> None:
        try:
            barrier.wait()
            with ResultStore(store_url) as store:
                store.count()
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=open_and_count) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine, _ = open_database(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (head_revision(),)
        ]
    engine.dispose()


def test_a_revision_from_a_newer_emolens_is_refused(store_url):
    ResultStore(store_url).close()
    engine, _ = open_database(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="revision '9999'.*newer emolens"):
        ResultStore(store_url)


def test_postgresql_urls_use_psycopg_and_errors_hide_the_password():
    from postgres import free_port

    url = f"postgresql://user:s3cret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(StoreError) as info:
        ResultStore(url)
    message = str(info.value)
    assert "postgresql+psycopg://user:***@127.0.0.1" in message
    assert "s3cret" not in message


@pytest.mark.usefixtures("isolated_settings")
def test_db_commands(store_url, tmp_path):
    runner = CliRunner()
    if "://" not in store_url:
        missing = runner.invoke(app, ["db", "current", "--db", str(tmp_path / "none.db")])
        assert missing.exit_code == 1 and "No result store" in missing.output
    first = runner.invoke(app, ["db", "upgrade", "--db", store_url])
    assert first.exit_code == 0, first.output
    assert f"upgraded from no revision to {head_revision()}" in first.output
    again = runner.invoke(app, ["db", "upgrade", "--db", store_url])
    assert "already at revision" in again.output
    current = runner.invoke(app, ["db", "current", "--db", store_url])
    assert current.exit_code == 0 and f"revision {head_revision()} (newest)" in current.output
