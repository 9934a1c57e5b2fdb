"""Batch analysis of files into real stores (SQLite, PostgreSQL): counts, dedup, resume, folders,
sinks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from emolens.batch import analyze_file, analyze_paths, expand_paths, item_key
from emolens.errors import InvalidInputError
from emolens.pipeline import build_analyzer
from emolens.store import ResultStore
from emolens.store.sql import open_database


@pytest.fixture(scope="module")
def analyzer(tiny_model_dir):
    """The tiny n-gram model of conftest.py: fast and deterministic."""
    return build_analyzer(tiny_model_dir, batch_size=16)


@pytest.fixture
def store(store_url):
    """A new store on each backend: SQLite, then PostgreSQL (see tests/postgres.py)."""
    with ResultStore(store_url) as s:
        yield s


def write_csv(path: Path, n: int, start: int = 0) -> Path:
    texts = ["I love this", "so angry", "very sad", "今天很开心", "气死我了"]
    lines = ["id,text,when,channel"] + [
        f"{i},{texts[i % 5]} #{i},2024-03-{1 + i % 28:02d} 12:00,ch{i % 3}" for i in range(start, n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sql(url: str, statement: str) -> list[tuple]:
    """Run one SQL statement on the store's database (SQLite or PostgreSQL); its rows."""
    engine, _ = open_database(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def stored_keys(url: str) -> list[str]:
    return [k for (k,) in sql(url, "SELECT item_key FROM results")]


def test_analyze_file_stores_every_item_once(tmp_path, analyzer, store):
    path = write_csv(tmp_path / "posts.csv", 25)
    report = analyze_file(path, analyzer, store, time_col="when", group_col="channel",
                          id_col="id", chunk_size=10)
    assert (report.read, report.analysed, report.stored, report.skipped_existing) == (25, 25, 25, 0)
    assert report.status == "ok" and report.error_count == 0
    frame = store.to_frame()
    assert len(frame) == 25
    first = frame.sort_values("row").iloc[0]
    source = str(path.resolve())
    assert first["source"] == source and first["row"] == 1
    # with --id-col an item is known by its id (rows added above it are not new)
    assert first["item_key"] == item_key(source, "id:0", "I love this #0")
    assert first["group"] == "ch0" and first["text"] == "I love this #0"
    assert str(first["timestamp"]) == "2024-03-01 12:00:00"
    assert first["model"] == analyzer.model_id


def test_running_again_stores_nothing_new_and_a_changed_row_is_new(tmp_path, analyzer, store):
    path = write_csv(tmp_path / "posts.csv", 12)
    analyze_file(path, analyzer, store)
    again = analyze_file(path, analyzer, store)
    assert (again.read, again.analysed, again.skipped_existing, again.stored) == (12, 0, 12, 0)

    path.write_text(path.read_text(encoding="utf-8").replace("so angry #1,", "so happy #1,"),
                    encoding="utf-8")
    changed = analyze_file(path, analyzer, store)
    assert (changed.analysed, changed.stored, changed.skipped_existing) == (1, 1, 11)
    assert store.count() == 13


def test_resume_after_losing_half_the_results(tmp_path, analyzer, store, store_url):
    path = write_csv(tmp_path / "posts.csv", 40)
    analyze_file(path, analyzer, store, chunk_size=7)
    db = store_url
    sql(db, "DELETE FROM results WHERE id % 2 = 0")
    assert len(stored_keys(db)) == 20
    report = analyze_file(path, analyzer, store, chunk_size=7)
    assert (report.analysed, report.skipped_existing, report.stored) == (20, 20, 20)
    keys = stored_keys(db)
    assert len(keys) == len(set(keys)) == 40


def test_a_crash_loses_at_most_the_chunk_in_progress(tmp_path, analyzer, store):
    path = write_csv(tmp_path / "posts.csv", 50)
    chunks = []

    def crash_on_third_chunk(results):
        chunks.append(len(results))
        if len(chunks) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze_file(path, analyzer, store, chunk_size=10, sink=crash_on_third_chunk)
    assert store.count() == 30  # the third chunk was committed before the sink saw it
    report = analyze_file(path, analyzer, store, chunk_size=10)
    assert (report.analysed, report.skipped_existing) == (20, 30)
    assert store.count() == 50


def test_sink_gets_every_result_in_file_order_including_stored_ones(tmp_path, analyzer, store,
                                                                   store_url):
    path = write_csv(tmp_path / "posts.csv", 30)
    first = []
    analyze_file(path, analyzer, store, id_col="id", sink=first.extend)
    sql(store_url, 'DELETE FROM results WHERE "row" > 20')
    seen = []
    report = analyze_file(path, analyzer, store, id_col="id", chunk_size=8, sink=seen.extend)
    assert (report.analysed, report.skipped_existing) == (10, 20)
    assert [r.details["row"] for r in seen] == list(range(1, 31))
    assert [r.details["item_id"] for r in seen] == [str(i) for i in range(30)]
    assert all(r.details.get("stored_before") for r in seen[:20])
    assert not any(r.details.get("stored_before") for r in seen[20:])
    for before, after in zip(first, seen, strict=True):  # read back as they were analysed
        assert (after.text, after.label, after.item_key) == (before.text, before.label,
                                                             before.item_key)
        assert after.scores == pytest.approx(before.scores)
        assert after.valence == pytest.approx(before.valence)


def test_store_text_hash_keeps_no_text(tmp_path, analyzer, store):
    path = write_csv(tmp_path / "posts.csv", 5)
    analyze_file(path, analyzer, store, store_text="hash")
    frame = store.to_frame()
    assert frame["text"].isna().all() and frame["text_hash"].notna().all()


def test_without_a_store_everything_is_analysed(tmp_path, analyzer):
    path = write_csv(tmp_path / "posts.csv", 5)
    seen = []
    for _ in range(2):
        report = analyze_file(path, analyzer, None, sink=seen.extend)
        assert (report.analysed, report.stored, report.skipped_existing) == (5, 0, 0)
    assert len(seen) == 10


def test_row_errors_make_a_partial_report(tmp_path, analyzer, store):
    path = tmp_path / "gaps.csv"
    path.write_text("text,n\nfine,1\n,2\nalso fine,3\ntoo,many,fields\n", encoding="utf-8")
    report = analyze_file(path, analyzer, store)
    assert report.status == "partial"
    assert (report.read, report.stored, report.error_count) == (2, 2, 2)
    assert [str(e) for e in report.errors] == [
        f"{path}:2: empty text", f"{path}:4: has 3 fields but the header has 2"
    ]


def test_truncation_and_bad_times_are_warnings(tmp_path, analyzer, store):
    path = tmp_path / "long.csv"
    path.write_text(f"text,when\n{'word ' * 30_000},yesterday-ish\n", encoding="utf-8")
    report = analyze_file(path, analyzer, store, time_col="when")
    assert report.truncated == 1 and report.warning_count == 2
    assert any("cut to 100,000 characters" in w for w in report.warnings)
    assert any("yesterday-ish" in w for w in report.warnings)
    assert len(store.to_frame()["text"].iloc[0]) == analyzer.max_chars


def test_analyze_paths_walks_folders_and_goes_past_broken_files(tmp_path, analyzer, store):
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    write_csv(folder / "b.csv", 4)
    (folder / "sub" / "a.txt").write_text("happy day\nsad night\n", encoding="utf-8")
    (folder / "sub" / "photo.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(256))
    (folder / "notes.md").write_text("not a supported type", encoding="utf-8")
    write_csv(folder / ".hidden" / "skip.csv", 3)
    files = expand_paths([folder, folder / "b.csv"])
    assert [f.relative_to(folder).as_posix() for f in files] == [
        "b.csv", "sub/a.txt", "sub/photo.jsonl"
    ]
    report = analyze_paths([folder, tmp_path / "missing.csv"], analyzer, store)
    assert report.read == 6 and report.stored == 6
    assert report.status == "partial" and report.error_count == 2
    failed = {Path(f.path).name: f.failed for f in report.files if f.failed}
    assert "looks binary" in failed["photo.jsonl"] and "no such file" in failed["missing.csv"]
    assert [f.status for f in report.files] == ["ok", "ok", "failed", "failed"]


def test_nothing_readable_is_a_failed_report(tmp_path, analyzer, store):
    junk = tmp_path / "junk.txt"
    junk.write_bytes(bytes(range(256)) * 8)
    report = analyze_paths([junk], analyzer, store)
    assert report.status == "failed" and report.read == 0
    with pytest.raises(InvalidInputError, match="looks binary"):
        analyze_file(junk, analyzer, store)


def test_bad_options_fail_before_reading(tmp_path, analyzer, store):
    path = write_csv(tmp_path / "posts.csv", 3)
    with pytest.raises(InvalidInputError, match="language"):
        analyze_file(path, analyzer, store, language="fr")
    with pytest.raises(InvalidInputError, match="store_text"):
        analyze_paths([path], analyzer, store, store_text="some")
    assert store.count() == 0
