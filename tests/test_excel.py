"""Excel workbooks (.xlsx) read by `analyze file` and by `train text`/`evaluate`, as CSV is:
real workbooks written by openpyxl, the real CLI and a real SQLite store."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_OK, EXIT_PARTIAL, app

openpyxl = pytest.importorskip("openpyxl", reason="needs the ingest extra (openpyxl)")

pytestmark = pytest.mark.usefixtures("isolated_settings")


def workbook(path, rows: list[tuple]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_analyze_file_reads_a_workbook_with_times_ids_and_an_empty_row(tmp_path, tiny_model_dir):
    path = tmp_path / "survey.xlsx"
    workbook(path, [("id", "answered", "comment"),
                    (7, datetime(2024, 5, 1, 8, 30), "I am so happy with it"),
                    (8, datetime(2024, 5, 2, 9, 0), None),
                    (9, "2024-05-03", "气死我了")])
    db = str(tmp_path / "r.db")
    done = run("analyze", "file", str(path), "--text-col", "comment", "--time-col", "answered",
               "--id-col", "id", "--model", tiny_model_dir, "--db", db)
    assert done.exit_code == EXIT_PARTIAL, done.output  # row 2 has no text
    assert "survey.xlsx:2: empty text" in done.output
    exported = run("export", "--db", db)
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["item_id"] for r in rows] == ["7", "9"]
    assert [r["timestamp"] for r in rows] == ["2024-05-01T08:30:00+00:00",
                                              "2024-05-03T00:00:00+00:00"]
    assert [r["text"] for r in rows] == ["I am so happy with it", "气死我了"]
    assert [r["label"] for r in rows] == ["joy", "anger"]


def test_a_folder_with_a_workbook_and_a_broken_one(tmp_path, tiny_model_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    workbook(folder / "a.xlsx", [("text",), ("what a lovely day",)])
    (folder / "b.csv").write_text("text\nI hate waiting\n", encoding="utf-8")
    (folder / "c.xlsx").write_bytes(b"not a workbook at all")
    done = run("analyze", "file", str(folder), "--model", tiny_model_dir,
               "--db", str(tmp_path / "r.db"))
    assert done.exit_code == EXIT_PARTIAL, done.output
    assert "Cannot read" in done.output and "c.xlsx as an Excel workbook" in done.output
    exported = run("export", "--db", str(tmp_path / "r.db"))
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sorted(r["text"] for r in rows) == ["I hate waiting", "what a lovely day"]


def test_train_and_evaluate_read_labelled_workbooks(tmp_path):
    examples = {"joy": ["I love this", "so happy today", "what a great gift", "best day"],
                "anger": ["I hate this", "so angry today", "what a rotten trick", "worst day"]}
    rows = [(text, label) for label, texts in examples.items() for text in texts]
    path = tmp_path / "coded.xlsx"
    workbook(path, [("text", "label"), *rows, ("no label here", None)])
    out = tmp_path / "model"
    trained = run("train", "text", "--data", str(path), "--text-col", "text", "--label-col",
                  "label", "--out", str(out), "--min-df", "1")
    assert trained.exit_code == EXIT_OK, trained.output
    assert "skipped 1 of 9 rows" in trained.output
    scored = run("evaluate", "--model", str(out), "--data", str(path), "--text-col", "text",
                 "--label-col", "label", "--report-dir", str(tmp_path / "report"))
    assert scored.exit_code == EXIT_OK, scored.output
    assert "accuracy" in scored.output
