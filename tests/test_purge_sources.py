"""`emolens purge --source` on what `emolens ingest` stored from a folder (one row per file under
it), and ages too long ago for any datetime (`purge --older-than`, `audit --since`), through the
real CLI on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_OK, EXIT_USAGE, app
from emolens.store import ResultStore
from emolens.store.commands import stored_source

pytestmark = pytest.mark.usefixtures("isolated_settings")
WIDE = {"COLUMNS": "400"}  # messages on one line, not wrapped in a box


def ingest(store_url: str, *sources: str) -> None:
    result = CliRunner().invoke(app, ["ingest", *sources, "--model", "ngram", "--db", store_url,
                                      "--quiet", "--no-media"])
    assert result.exit_code == EXIT_OK, result.output


def purge(store_url: str, *args: str):
    return CliRunner().invoke(app, ["purge", "--db", store_url, *args], env=WIDE)


def folders(tmp_path):
    """posts/ (two files, one in a subfolder) and posts-old/ beside it, whose name starts
    the same: a prefix match on the name alone would take it too."""
    (tmp_path / "posts" / "2025").mkdir(parents=True)
    (tmp_path / "posts" / "a.txt").write_text("so happy today\nI hate this\n", encoding="utf-8")
    (tmp_path / "posts" / "2025" / "b.txt").write_text("what a sad day\n", encoding="utf-8")
    (tmp_path / "posts-old").mkdir()
    (tmp_path / "posts-old" / "c.txt").write_text("furious about it\n", encoding="utf-8")
    return tmp_path / "posts", tmp_path / "posts-old"


def test_purge_source_folder_matches_the_files_ingested_from_it(tmp_path, store_url,
                                                                 monkeypatch):
    posts, old = folders(tmp_path)
    ingest(store_url, str(posts), str(old))
    with ResultStore(store_url) as store:
        assert len(store.sources()) == 3  # stored per file, not per folder
    monkeypatch.chdir(tmp_path)  # the folder given relative, as people type it

    dry = purge(store_url, "--source", "posts", "--dry-run")
    assert dry.exit_code == EXIT_OK, dry.output
    said = " ".join(dry.output.split())
    assert f"3 results from {posts.resolve()} and the files under it" in said
    assert "would be deleted" in said

    done = purge(store_url, "--source", "posts/", "--yes")
    assert done.exit_code == EXIT_OK and "deleted 3 results" in done.output
    with ResultStore(store_url) as store:
        assert store.sources() == [str((old / "c.txt").resolve())]


def test_a_folder_removed_after_ingest_can_still_be_purged(tmp_path, store_url):
    posts, old = folders(tmp_path)
    ingest(store_url, str(posts), str(old))
    shutil.rmtree(posts)  # a data-subject request after the data itself is gone
    dry = purge(store_url, "--source", str(posts), "--dry-run")
    assert "3 results from" in dry.output and "would be deleted" in dry.output


def test_a_file_and_a_stored_name_still_match_only_themselves(tmp_path, store_url):
    posts, old = folders(tmp_path)
    ingest(store_url, str(posts), str(old))
    with ResultStore(store_url) as store:
        assert stored_source(store, str(posts / "a.txt")) == (str((posts / "a.txt").resolve()),
                                                              False)
        assert stored_source(store, "https://example.com/feed") == (
            "https://example.com/feed", False)
        source, folder = stored_source(store, str(posts))
        assert folder and len(store.to_frame(source=source, folder=True)) == 3
        assert store.to_frame(source=source).empty  # without folder=: the exact source only
    only_a = purge(store_url, "--source", str(posts / "a.txt"), "--yes")
    assert "deleted 2 results" in only_a.output


@pytest.mark.parametrize("age", ["1000000d", "99999999999d", "9" * 400 + "d", "200000w"])
def test_an_age_before_the_year_one_is_a_usage_error(tmp_path, age):
    db = str(tmp_path / "x.db")
    with ResultStore(db) as store:
        store.count()  # the store exists, so only the age can be wrong
    runner = CliRunner()
    for command in (["purge", "--db", db, "--older-than", age, "--dry-run"],
                    ["audit", "--db", db, "--since", age]):
        result = runner.invoke(app, command, env=WIDE)
        assert result.exit_code == EXIT_USAGE, (command, result.output)
        assert isinstance(result.exception, SystemExit)  # no OverflowError traceback
        said = " ".join(result.output.split())
        assert "reaches back before the year 1; give a shorter age" in said
        assert command[3] in said  # names the option it came from
