"""`emolens analyze file` run again with more columns, and --quiet keeping to errors."""

from __future__ import annotations

import logging

import pytest
from tables import write_rows
from typer.testing import CliRunner

from emolens.cli import app

pytestmark = pytest.mark.usefixtures("isolated_settings")

EN = [("I am so happy today", "joy"), ("what a wonderful lovely day", "joy"),
      ("glad and happy with this", "joy"), ("this makes me so angry", "anger"),
      ("I am furious with you", "anger"), ("angry about the broken promise", "anger")]



def _run(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=300)


def test_a_rerun_naming_new_columns_says_the_stored_rows_keep_theirs(tmp_path):
    posts = write_rows(tmp_path / "posts.csv", [("so happy and glad", "web", "2024-03-01"),
                                            ("furious and angry", "app", "2024-03-02")],
                   ("text", "source", "created_at"))
    db = str(tmp_path / "r.db")
    first = _run("analyze", "file", str(posts), "--db", db, "--model", "ngram")
    assert first.exit_code == 0, first.output
    assert "kept as stored" not in first.output
    again = _run("analyze", "file", str(posts), "--db", db, "--model", "ngram",
                 "--group-col", "source", "--time-col", "created_at")
    assert again.exit_code == 0, again.output
    assert "2 items were stored by an earlier run and kept as stored" in again.output
    assert "emolens purge --source" in again.output


def test_quiet_hides_the_untrained_language_warning(tmp_path, caplog):
    data = write_rows(tmp_path / "train.csv", EN * 3, ("text", "label"))
    assert _run("train", "text", "--data", str(data), "--out", str(tmp_path / "m")).exit_code == 0
    posts = write_rows(tmp_path / "posts.csv", [("我今天很开心",), ("I am so happy",)], ("text",))
    model = tmp_path / "m"
    with caplog.at_level(logging.WARNING, logger="emolens"):
        loud = _run("analyze", "file", str(posts), "--model", str(model), "--no-store",
                    "-o", str(tmp_path / "loud.csv"))
    assert loud.exit_code == 0, loud.output
    assert any("trained on en texts only" in r.getMessage() for r in caplog.records)
    caplog.clear()
    logging.getLogger("emolens").setLevel(logging.NOTSET)
    other = tmp_path / "m2"  # a fresh model: the warning is given once per loaded model
    assert _run("train", "text", "--data", str(data), "--out", str(other),
                "--version", "2").exit_code == 0
    with caplog.at_level(logging.WARNING):
        quiet = _run("analyze", "file", str(posts), "--model", str(other), "--no-store",
                     "-o", str(tmp_path / "quiet.csv"), "-q")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output.strip() == ""
    assert not [r for r in caplog.records if r.name.startswith("emolens")]
    assert len((tmp_path / "quiet.csv").read_text(encoding="utf-8-sig").splitlines()) == 3
    # the level is restored when the command ends
    assert logging.getLogger("emolens").level == logging.NOTSET


def test_an_out_file_of_an_unknown_format_is_a_usage_error(tmp_path):
    posts = write_rows(tmp_path / "posts.csv", [("so happy and glad",)], ("text",))
    result = _run("analyze", "file", str(posts), "--no-store", "-o", str(tmp_path / "r.xlsx"))
    assert result.exit_code == 2
    assert ".csv" in result.output and ".parquet" in result.output
    assert not (tmp_path / "r.xlsx").exists()
