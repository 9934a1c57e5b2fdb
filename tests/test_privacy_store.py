"""Privacy on the storage side: --store-text redacted, and deleting results by age or source
(`emolens purge`), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from emolens.batch import analyze_file
from emolens.cli import EXIT_USAGE, app
from emolens.errors import InvalidInputError
from emolens.io.results import ResultWriter
from emolens.labels import CANONICAL
from emolens.pipeline import build_analyzer, text_hash
from emolens.store import ResultStore
from emolens.store.commands import parse_age
from emolens.types import EmotionResult

PERSONAL = "mail me at jo.smith@example.com or call +1 415 555 0134, I am so angry @jo_s"
REDACTED = "mail me at [EMAIL] or call [PHONE], I am so angry [HANDLE]"


def result(i: int, source: str = "a.csv", **fields: object) -> EmotionResult:
    values = {"label": "anger", "scores": {x: 1 / len(CANONICAL) for x in CANONICAL},
              "language": "en", "model": "m1", "text": f"text {i}", "source_id": source}
    values.update(fields)
    return EmotionResult(**values)


@pytest.fixture
def store(store_url):
    with ResultStore(store_url) as s:
        yield s


def test_redacted_text_keeps_the_hash_of_the_text_given(store):
    assert store.add([result(0, text=PERSONAL)], store_text="redacted") == 1
    row = store.to_frame().iloc[0]
    assert row["text"] == REDACTED
    assert row["text_hash"] == row["item_key"] == text_hash(PERSONAL)


def test_batch_and_output_file_follow_redacted(tmp_path, tiny_model_dir, store):
    path = tmp_path / "posts.csv"
    path.write_text(f"text\n\"{PERSONAL}\"\nno personal data here\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    analyzer = build_analyzer(tiny_model_dir)
    with ResultWriter(out, analyzer.output_labels, "redacted") as writer:
        report = analyze_file(path, analyzer, store, store_text="redacted", sink=writer.write)
    assert report.stored == 2
    assert sorted(store.to_frame()["text"]) == [REDACTED, "no personal data here"]
    with open(out, encoding="utf-8-sig", newline="") as fh:
        assert [r["text"] for r in csv.DictReader(fh)] == [REDACTED, "no personal data here"]


def test_delete_by_source_and_age(store):
    store.add([result(i) for i in range(3)] + [result(i, source="b.csv") for i in range(3, 5)])
    with store._engine.begin() as conn:  # two results of a.csv were stored 100 days ago
        old = datetime.now(UTC) - timedelta(days=100)
        conn.execute(text("UPDATE results SET created_at = :old WHERE item_key IN (:a, :b)"),
                     {"old": old.replace(tzinfo=None) if conn.dialect.name == "sqlite" else old,
                      "a": text_hash("text 0"), "b": text_hash("text 1")})
    cutoff = datetime.now(UTC) - timedelta(days=90)
    assert store.delete(stored_before=cutoff, dry_run=True) == 2
    assert store.count() == 5
    assert store.delete(source="a.csv", stored_before=cutoff) == 2
    assert store.delete(source="b.csv") == 2
    assert store.to_frame()["text"].tolist() == ["text 2"]
    with pytest.raises(InvalidInputError, match="which results"):
        store.delete()


@pytest.mark.usefixtures("isolated_settings")
def test_purge_command(tmp_path, store_url):
    posts = tmp_path / "posts.csv"
    posts.write_text("text\nhello\n", encoding="utf-8")
    with ResultStore(store_url) as s:
        s.add([result(0, source=str(posts.resolve())), result(1, source="feed")])
    runner = CliRunner()

    def purge(*args: str):
        return runner.invoke(app, ["purge", "--db", store_url, *args])

    assert purge().exit_code == EXIT_USAGE
    assert purge("--older-than", "soon").exit_code == EXIT_USAGE
    assert "0 results" in purge("--older-than", "90d", "--yes").output
    dry = purge("--source", str(posts), "--dry-run")
    assert "1 results from" in dry.output and "would be deleted" in dry.output
    refused = runner.invoke(app, ["purge", "--db", store_url, "--source", "feed"], input="n\n")
    assert refused.exit_code == 1
    done = purge("--source", str(posts), "--yes")  # a file path matches its stored source
    assert done.exit_code == 0 and "deleted 1 results" in done.output
    with ResultStore(store_url) as s:
        assert s.sources() == ["feed"]


def test_parse_age():
    assert parse_age("90d") == timedelta(days=90)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age(" 1.5w") == timedelta(weeks=1.5)


@pytest.mark.usefixtures("isolated_settings")
def test_analyze_file_store_text_redacted(tmp_path, tiny_model_dir):
    path = tmp_path / "posts.csv"
    path.write_text(f"text\n\"{PERSONAL}\"\n", encoding="utf-8")
    db = tmp_path / "r.db"
    done = CliRunner().invoke(app, ["analyze", "file", str(path), "--model", tiny_model_dir,
                                    "--db", str(db), "--store-text", "redacted", "--quiet"])
    assert done.exit_code == 0, done.output
    with ResultStore(str(db)) as s:
        assert s.to_frame()["text"].tolist() == [REDACTED]
