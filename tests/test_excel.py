"""Excel workbooks (.xlsx) read by `analyze file` and by `train text`/`evaluate`, as CSV is:
real workbooks written by openpyxl, the real CLI and a real SQLite store."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_OK, EXIT_PARTIAL, app
from emolens.errors import InvalidInputError
from emolens.io import read_items

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


def two_sheets(path, active: int = 1) -> None:
    """Posts (comment, label) first, Notes (note) second; ``active`` is the sheet Excel shows."""
    book = openpyxl.Workbook()
    posts = book.active
    posts.title = "Posts"
    for row in [("comment", "label"), ("I love this so much", "joy"), ("气死我了", "anger")]:
        posts.append(row)
    notes = book.create_sheet("Notes")
    for row in [("note",), ("remember to ask about the refund",)]:
        notes.append(row)
    book.active = active
    book.save(path)


def out_texts(path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [r["text"] for r in csv.DictReader(fh)]


def test_the_first_sheet_is_read_not_the_one_active_when_saved(tmp_path, tiny_model_dir):
    path = tmp_path / "active2.xlsx"
    two_sheets(path, active=1)
    out = tmp_path / "a2.csv"
    done = run("analyze", "file", str(path), "--text-col", "comment", "--no-store",
               "--model", tiny_model_dir, "-o", str(out))
    assert done.exit_code == EXIT_OK, done.output
    assert out_texts(out) == ["I love this so much", "气死我了"]
    assert [i.text for i in read_items(path, text_col="note", sheet="Notes")] == \
        ["remember to ask about the refund"]


def test_sheet_option_reads_the_named_sheet(tmp_path, tiny_model_dir):
    path = tmp_path / "book.xlsx"
    two_sheets(path, active=0)
    out = tmp_path / "notes.csv"
    done = run("analyze", "file", str(path), "--sheet", "Notes", "--text-col", "note",
               "--no-store", "--model", tiny_model_dir, "-o", str(out))
    assert done.exit_code == EXIT_OK, done.output
    assert out_texts(out) == ["remember to ask about the refund"]
    missing = run("analyze", "file", str(path), "--sheet", "Sheet9", "--no-store",
                  "--model", tiny_model_dir)
    assert missing.exit_code != EXIT_OK
    assert "no sheet 'Sheet9'" in missing.output and "'Posts', 'Notes'" in missing.output


def test_a_missing_column_names_the_sheet_read_and_the_other_sheets(tmp_path, tiny_model_dir):
    path = tmp_path / "multi.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(("note",))
    book.active.append(("a note",))
    book.create_sheet("Posts").append(("comment",))
    book.save(path)
    with pytest.raises(InvalidInputError) as err:
        read_items(path, text_col="comment")
    message = str(err.value)
    assert "no column 'comment'" in message and "'note'" in message
    assert "sheet 'Notes'" in message and "'Posts'" in message and "--sheet" in message
    done = run("analyze", "file", str(path), "--text-col", "comment", "--no-store",
               "--model", tiny_model_dir)
    assert done.exit_code != EXIT_OK
    assert "sheet 'Notes'" in done.output and "'Posts'" in done.output


def test_an_xlsx_named_csv_is_told_to_be_named_xlsx(tmp_path):
    path = tmp_path / "survey.csv"
    workbook(path, [("comment",), ("fine",)])
    with pytest.raises(InvalidInputError, match=r"ZIP archive.*name it \.xlsx"):
        read_items(path, text_col="comment")


def test_numbers_in_a_workbooks_time_column_are_excel_serial_dates(tmp_path):
    path = tmp_path / "times.xlsx"
    workbook(path, [("text", "when"),
                    ("serial day", 45000),
                    ("serial noon", 45000.5),
                    ("a real date cell", datetime(2024, 5, 1, 8, 30)),
                    ("a compact date", 20240301),
                    ("a Unix time", 1700000000)])
    items = list(read_items(path, time_col="when"))
    assert [i.timestamp for i in items] == [
        datetime(2023, 3, 15), datetime(2023, 3, 15, 12), datetime(2024, 5, 1, 8, 30),
        datetime(2024, 3, 1), datetime(2023, 11, 14, 22, 13, 20)]
    # The same number in a CSV stays a Unix time, as before.
    (tmp_path / "times.csv").write_text("text,when\nx,45000\n", encoding="utf-8")
    assert next(read_items(tmp_path / "times.csv", time_col="when")).timestamp == \
        datetime(1970, 1, 1, 12, 30)


def test_a_duplicated_column_in_a_workbook_is_refused_when_used(tmp_path):
    path = tmp_path / "dup.xlsx"
    workbook(path, [("comment", "comment"), ("first happy text", "second angry text")])
    with pytest.raises(InvalidInputError,
                       match=r"dup\.xlsx has 2 columns named 'comment'; rename them"):
        read_items(path, text_col="comment")
