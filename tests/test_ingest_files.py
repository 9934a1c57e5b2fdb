"""Local files and folders: tables with author and URL columns (CSV, JSONL, Parquet, Excel),
folders of mixed types routed by type, glob patterns, incremental runs, hashed authors and
`emolens purge --author`, and migration 0003 on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import inspect
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, app
from emolens.errors import MissingExtraError
from emolens.ingest import IngestItem, IngestOptions, guess_kind, ingest, open_source
from emolens.ingest.media import MediaAnalyzers
from emolens.pipeline import build_analyzer
from emolens.privacy import hash_author
from emolens.store import ResultStore
from emolens.store.migrate import alembic_config
from emolens.store.schema import results_table
from emolens.store.sql import open_database

ROWS = [
    {"id": "p1", "author": "alice", "text": "I love this so much 😍", "created_at":
     "2024-05-01T10:00:00Z", "link": "https://forum.example/p1"},
    {"id": "p2", "author": "bob", "text": "气死我了，客服太差", "created_at": "2024-05-01 11:30",
     "link": "https://forum.example/p2"},
    {"id": "p3", "author": "alice", "text": "  ", "created_at": "2024-05-01", "link": ""},
    {"id": "p4", "author": "carol", "text": "what a sad ending", "created_at": "not a time",
     "link": "https://forum.example/p4"},
]


@pytest.fixture(scope="module")
def analyzer():
    return build_analyzer("ngram")


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(rows)


def invoke(*args: str):
    return CliRunner().invoke(app, ["ingest", *args, "--model", "ngram", "--json"])


def source_lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()
            if json.loads(line)["type"] == "source"]


@pytest.mark.usefixtures("isolated_settings")
def test_csv_with_author_and_url_is_collected_incrementally(tmp_path, store_url):
    path = tmp_path / "posts.csv"
    write_csv(path, ROWS)
    first = invoke(str(path), "--db", store_url, "--url-col", "link")
    assert first.exit_code == EXIT_PARTIAL, first.output
    (report,) = source_lines(first)
    assert (report["kind"], report["analysed"], report["stored"]) == ("table", 3, 3)
    assert report["errors"] == [f"{path.resolve()}:3: empty text"]
    assert any("could not read the time 'not a time'" in n for n in report["notes"])
    with ResultStore(store_url) as store:
        frame = store.to_frame().set_index("text")
    row = frame.loc["I love this so much 😍"]
    assert (row["author"], row["url"]) == ("alice", "https://forum.example/p1")
    assert row["timestamp"] == datetime(2024, 5, 1, 10)
    assert row["source"] == str(path.resolve())

    again = invoke(str(path), "--db", store_url, "--url-col", "link")
    assert (source_lines(again)[0]["analysed"], source_lines(again)[0]["skipped_existing"]) == (
        0, 3)
    write_csv(path, [*ROWS[:2], {**ROWS[0], "id": "p5", "text": "new post, so happy"}, *ROWS[2:]])
    third = invoke(str(path), "--db", store_url, "--url-col", "link")
    assert source_lines(third)[0]["analysed"] == 1


def test_jsonl_parquet_and_excel_tables(tmp_path):
    import openpyxl
    import pandas as pd

    frame = pd.DataFrame([r for r in ROWS if r["text"].strip()])
    frame.to_parquet(tmp_path / "posts.parquet")
    (tmp_path / "posts.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n{broken\n",
        encoding="utf-8")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "author", "text", "created_at", "link"])
    sheet.append(["x1", "dora", "Excel 里的一条评论，太开心了", datetime(2024, 6, 1, 8), None])
    sheet.append([None, None, None, None, None])  # an empty row: nothing to report
    sheet.append(["x2", "erin", 12345, "2024-06-02", "https://e.example/x2"])
    book.save(tmp_path / "posts.xlsx")
    for name, texts in (("posts.parquet", 3), ("posts.jsonl", 3), ("posts.xlsx", 2)):
        assert guess_kind(str(tmp_path / name)) == "table"
        found = list(open_source(str(tmp_path / name), url_col="link").items({}))
        items = [e for e in found if isinstance(e, IngestItem)]
        assert len(items) == texts, (name, found)
        assert items[0].author in ("alice", "dora")
    excel = [e for e in open_source(str(tmp_path / "posts.xlsx")).items({})
             if isinstance(e, IngestItem)]
    assert excel[0].time == datetime(2024, 6, 1, 8) and excel[1].text == "12345"
    assert excel[1].url == "https://e.example/x2"  # 'link' is a known URL column name


def test_folder_of_mixed_types_routes_each_file(tmp_path, analyzer):
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    write_csv(folder / "posts.csv", ROWS[:2])
    (folder / "sub" / "page.html").write_text(
        "<html><head><title>Review</title></head><body><nav>Home | About</nav><article>"
        "<p>This product made me furious.</p></article><footer>© shop</footer></body></html>",
        encoding="utf-8")
    (folder / "sub" / "voice.mp3").write_bytes(b"ID3 not really audio")
    (folder / "photo.png").write_bytes(b"\x89PNG not really an image")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")  # not a type emolens reads: left out
    write_csv(folder / ".hidden" / "secret.csv", ROWS[:1])
    (folder / "broken.csv").write_bytes(b"\x00\x01\x02 binary")

    def missing(kind: str):
        def load():
            raise MissingExtraError(f"Decoding {kind}", kind)
        return load

    media = MediaAnalyzers(loaders={k: missing(k) for k in ("audio", "video", "image")})
    source = open_source(str(folder))
    assert source.name == "files"
    report = ingest(source, analyzer, None, IngestOptions(media=media))
    assert report.analysed == 3 and report.read == 5
    assert report.status == "partial"
    assert [e.split(": ")[0] for e in report.errors] == [str(folder / "broken.csv")]
    assert any(n.startswith(f"{folder / 'sub' / 'voice.mp3'}: left out: Decoding audio needs "
                            "the 'audio' extra") for n in report.notes)
    assert any(str(folder / "photo.png") in n and "'image' extra" in n for n in report.notes)

    pattern = ingest(open_source(str(folder / "**" / "*.html")), analyzer)
    assert (pattern.read, pattern.analysed) == (1, 1)


@pytest.mark.usefixtures("isolated_settings")
def test_hashed_authors_and_purge_by_author(tmp_path, store_url, monkeypatch):
    path = tmp_path / "posts.csv"
    write_csv(path, ROWS)
    refused = invoke(str(path), "--db", store_url, "--hash-authors")
    assert refused.exit_code == EXIT_ERROR and "author_salt" in refused.output
    monkeypatch.setenv("EMOLENS_AUTHOR_SALT", "pepper-123")
    done = invoke(str(path), "--db", store_url, "--hash-authors")
    assert done.exit_code == EXIT_PARTIAL, done.output
    with ResultStore(store_url) as store:
        authors = sorted(store.to_frame()["author"])
    assert authors == sorted(hash_author(a, "pepper-123") for a in ("alice", "bob", "carol"))
    assert "alice" not in authors

    runner = CliRunner()
    dry = runner.invoke(app, ["purge", "--db", store_url, "--author", "alice", "--dry-run"])
    assert "1 results by alice" in dry.output
    gone = runner.invoke(app, ["purge", "--db", store_url, "--author", "alice", "--yes"])
    assert gone.exit_code == EXIT_OK and "deleted 1 results by alice" in gone.output
    with ResultStore(store_url) as store:
        assert sorted(store.to_frame()["author"]) == sorted(
            hash_author(a, "pepper-123") for a in ("bob", "carol"))


@pytest.mark.usefixtures("isolated_settings")
def test_options_that_do_not_fit_the_connector_are_refused(tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss/>")
    result = invoke(str(feed), "--text-col", "body", "--db", str(tmp_path / "r.db"))
    assert result.exit_code == EXIT_ERROR
    assert "text_col does not apply to the 'rss' connector" in result.output
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    unknown = invoke(str(tmp_path / "notes.docx"), "--db", str(tmp_path / "r.db"))
    assert unknown.exit_code == EXIT_ERROR and "--kind" in unknown.output


def test_migration_0003_adds_author_url_and_state_to_a_0002_store(store_url):
    engine, _ = open_database(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(results_table.insert().values(
            item_key="k1", model="m", label="joy", modality="text", scores={"joy": 1.0},
            created_at=datetime(2024, 1, 1), text="old row"))
    engine.dispose()
    with ResultStore(store_url) as store:
        frame = store.to_frame()
        tables = set(inspect(store.engine).get_table_names())
        indexes = {i["name"] for i in inspect(store.engine).get_indexes("results")}
    assert frame["text"].tolist() == ["old row"] and frame["author"].isna().all()
    assert {"ingest_state", "alerts"} <= tables and "ix_results_author" in indexes
