"""What `emolens export` and `analyze file --out` write: CSV cells defused against formula
injection (as the service's CSV), the stored hash of the original text, UTC marked alike in
every format, the confidence of abstained results, and clear messages for empty matches and
unsupported extensions. Real CLI, real SQLite stores."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_OK, EXIT_USAGE, app
from emolens.store import ResultStore
from emolens.text.ngram import NgramRecognizer
from emolens.types import EmotionResult

pytestmark = pytest.mark.usefixtures("isolated_settings")

HAPPY = '=HYPERLINK("http://evil","click me") I am so happy'
SAD = "+1+1 so sad"
PLAIN = "mail me at bob@example.com, I love this"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


@pytest.fixture
def posts(tmp_path) -> Path:
    """The tester's file: texts and groups a spreadsheet would run as formulas, with times."""
    path = tmp_path / "formula.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "when", "text", "grp"])
        writer.writerows([["-7", "2024-03-01 10:00", HAPPY, "=cmd|x"],
                          ["@8", "2024-03-02 11:00", SAD, "@SUM(A1)"],
                          ["9", "2024-03-03 12:00", PLAIN, "\tshop"]])
    return path


def analyse(posts: Path, model: str, db: Path, *more: str) -> None:
    done = run("analyze", "file", str(posts), "--id-col", "id", "--time-col", "when",
               "--group-col", "grp", "--model", model, "--db", str(db), "-q", *more)
    assert done.exit_code == EXIT_OK, done.output


def test_every_csv_writer_defuses_formula_cells_and_other_formats_keep_them(
        posts, tiny_model_dir, tmp_path):
    db, run_csv = tmp_path / "fo.db", tmp_path / "run.csv"
    analyse(posts, tiny_model_dir, db, "--out", str(run_csv))
    exported = tmp_path / "fo.csv"
    assert run("export", "--db", str(db), "-o", str(exported)).exit_code == EXIT_OK
    to_stdout = run("export", "--db", str(db))
    assert to_stdout.exit_code == EXIT_OK
    for rows in (read_csv(run_csv), read_csv(exported),
                 list(csv.DictReader(io.StringIO(to_stdout.stdout)))):
        assert [r["text"] for r in rows] == ["'" + HAPPY, "'" + SAD, PLAIN]
        assert [r["group"] for r in rows] == ["'=cmd|x", "'@SUM(A1)", "'\tshop"]
        assert [r["item_id"] for r in rows] == ["-7", "'@8", "9"]  # -7 is a number
        assert all(float(r["confidence"]) > 0 for r in rows)  # numbers are left alone
        assert not any(r["valence"].startswith("'") for r in rows)

    assert run("export", "--db", str(db), "-o", str(tmp_path / "fo.jsonl")).exit_code == 0
    lines = [json.loads(x) for x in (tmp_path / "fo.jsonl").read_text().splitlines()]
    assert [x["text"] for x in lines] == [HAPPY, SAD, PLAIN]
    assert [x["group"] for x in lines] == ["=cmd|x", "@SUM(A1)", "\tshop"]
    assert run("export", "--db", str(db), "-o", str(tmp_path / "fo.parquet")).exit_code == 0
    assert pd.read_parquet(tmp_path / "fo.parquet")["item_id"].tolist() == ["-7", "@8", "9"]


def test_the_service_csv_uses_the_same_defusing():
    from emolens.io.results import defuse
    from emolens.server import queries

    assert queries.defuse is defuse
    assert [defuse(x) for x in ("=1", "+1+1", "-1+cmd", "@a", "\tx", "\rx", "ok", 3.5, None)
            ] == ["'=1", "'+1+1", "'-1+cmd", "'@a", "'\tx", "'\rx", "ok", 3.5, None]
    # a plain number (a label "-1", an id "+86") runs nothing and is kept as it is
    assert [defuse(x) for x in ("-1", "+86", "-0.5", "1e5")] == ["-1", "+86", "-0.5", "1e5"]


@pytest.mark.parametrize("store_text", ["full", "redacted", "hash"])
def test_text_hash_is_the_originals_in_the_store_out_and_export(
        posts, tiny_model_dir, tmp_path, store_text):
    db, out = tmp_path / "h.db", tmp_path / "run.csv"
    analyse(posts, tiny_model_dir, db, "--store-text", store_text, "--out", str(out))
    exported = tmp_path / "export.csv"
    done = run("export", "--db", str(db), "--text", "hash", "-o", str(exported))
    assert done.exit_code == EXIT_OK, done.output
    originals = [sha256(t) for t in (HAPPY, SAD, PLAIN)]
    assert [r["text_sha256"] for r in read_csv(exported)] == originals
    with ResultStore(str(db)) as store:
        assert store.to_frame()["text_hash"].tolist() == originals
    if store_text == "hash":  # --out follows --store-text
        assert [r["text_sha256"] for r in read_csv(out)] == originals


def test_times_are_marked_utc_alike_in_out_export_and_parquet(posts, tiny_model_dir, tmp_path):
    db = tmp_path / "t.db"
    analyse(posts, tiny_model_dir, db, "--out", str(tmp_path / "run.csv"))
    analyse(posts, tiny_model_dir, tmp_path / "t2.db", "--out", str(tmp_path / "run.jsonl"))
    analyse(posts, tiny_model_dir, tmp_path / "t3.db", "--out", str(tmp_path / "run.parquet"))
    for fmt in ("csv", "jsonl", "parquet"):
        assert run("export", "--db", str(db), "-o", str(tmp_path / f"exp.{fmt}")).exit_code == 0
    first = "2024-03-01T10:00:00+00:00"
    assert read_csv(tmp_path / "run.csv")[0]["timestamp"] == first
    exported = read_csv(tmp_path / "exp.csv")[0]
    assert exported["timestamp"] == first and exported["stored_at"].endswith("+00:00")
    for name in ("run.jsonl", "exp.jsonl"):
        line = json.loads((tmp_path / name).read_text().splitlines()[0])
        assert line["timestamp"] == first
    assert json.loads((tmp_path / "exp.jsonl").read_text().splitlines()[0])[
        "stored_at"].endswith("+00:00")
    for name, columns in (("run.parquet", ["timestamp"]),
                          ("exp.parquet", ["timestamp", "stored_at"])):
        schema = pq.read_schema(tmp_path / name)
        for column in columns:
            assert schema.field(column).type.tz == "UTC", (name, column)
        frame = pd.read_parquet(tmp_path / name)
        assert frame["timestamp"].iloc[0] == pd.Timestamp(first)


def test_an_abstained_results_confidence_is_its_top_score(tmp_path):
    model = NgramRecognizer(name="abstains", version="1", min_df=1, abstain_below=0.99)
    model.fit(["so boring, nothing happens", "yawn, dull lecture", "what a gripping talk",
               "I was hooked from the start"], ["bored", "bored", "engaged", "engaged"])
    path = model.save(tmp_path / "m")
    posts = tmp_path / "p.csv"
    posts.write_text("text\ndull and gripping\nboring yawn\n", encoding="utf-8")
    db, out = tmp_path / "a.db", tmp_path / "run.csv"
    done = run("analyze", "file", str(posts), "--model", str(path), "--db", str(db), "-q",
               "--out", str(out))
    assert done.exit_code == EXIT_OK, done.output
    done = run("export", "--db", str(db), "-o", str(tmp_path / "exp.csv"))
    assert done.exit_code == EXIT_OK, done.output
    for rows in (read_csv(out), read_csv(tmp_path / "exp.csv")):
        assert [r["label"] for r in rows] == ["uncertain", "uncertain"]
        for row in rows:
            top = max(float(row["p_bored"]), float(row["p_engaged"]))
            assert float(row["confidence"]) == pytest.approx(top)


def test_an_empty_match_says_what_was_written(tmp_path):
    db = str(tmp_path / "e.db")
    with ResultStore(db) as store:
        store.add([EmotionResult(label="joy", scores={"joy": 0.9, "sadness": 0.1}, text="yay",
                                 item_key="a", model="m@1")])
    said = {}
    for name in ("e.csv", "e.jsonl", "e.parquet"):
        done = run("export", "--db", db, "--label", "anger", "-o", str(tmp_path / name))
        assert done.exit_code == EXIT_OK
        said[name] = " ".join(done.stderr.split())
    assert "e.csv has the header only" in said["e.csv"]
    assert (tmp_path / "e.jsonl").read_bytes() == b""
    assert "e.jsonl is empty (JSONL has no header)" in said["e.jsonl"]
    assert "header" not in said["e.jsonl"].replace("no header", "")
    assert "e.parquet has the columns and no rows" in said["e.parquet"]
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


@pytest.mark.parametrize("name", ["out.xlsx", "out.tsv", "out"])
def test_an_unsupported_extension_is_a_usage_error_naming_those_that_work(tmp_path, name):
    db = str(tmp_path / "x.db")
    with ResultStore(db) as store:
        store.add([EmotionResult(label="joy", scores={"joy": 1.0}, text="yay", item_key="a",
                                 model="m@1")])
    done = run("export", "--db", db, "-o", str(tmp_path / name))
    assert done.exit_code == EXIT_USAGE
    said = " ".join(done.output.replace("│", " ").split())
    assert ".csv (with a byte-order mark" in said and ".jsonl" in said and ".parquet" in said
    assert not (tmp_path / name).exists()
