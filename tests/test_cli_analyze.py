"""`emolens analyze file` end to end: the real CLI, real files, a real SQLite store.

Most tests use a tiny n-gram model fitted in a fixture (fast); one runs the shipped default
model through the installed console script, and one kills a run with SIGKILL and resumes it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, app
from emolens.labels import CANONICAL
from emolens.models import DEFAULT_MODEL_DIR, MODEL_FILE

SAMPLE = Path(__file__).parents[1] / "src" / "emolens" / "samples" / "posts.csv"


pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir) -> str:
    """The tiny n-gram model of conftest.py, as a model directory for --model."""
    return tiny_model_dir



def invoke(*args: str):
    return CliRunner().invoke(app, ["analyze", "file", *args])


def write_csv(path: Path, n: int) -> Path:
    texts = ["I love this", "so angry", "very sad", "今天很开心", "气死我了"]
    lines = ["id,text,when,channel"] + [
        f"{i},{texts[i % 5]} #{i},2024-03-{1 + i % 28:02d} 12:00,ch{i % 3}" for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def db_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        query = "SELECT item_key, source, row, group_name, text FROM results"
        return conn.execute(query).fetchall()


def test_analyze_file_stores_and_summarises(tmp_path, model_dir):
    path = write_csv(tmp_path / "posts.csv", 12)
    db = tmp_path / "r.db"
    result = invoke(str(path), "--model", model_dir, "--db", str(db), "--group-col", "channel",
                    "--time-col", "when")
    assert result.exit_code == EXIT_OK, result.output
    assert "12 analysed" in result.stdout and "tiny@1" in result.stdout
    rows = db_rows(db)
    assert len(rows) == 12 and {r[1] for r in rows} == {str(path.resolve())}
    assert sorted(r[2] for r in rows) == list(range(1, 13))

    again = invoke(str(path), "--model", model_dir, "--db", str(db), "--json")
    assert again.exit_code == EXIT_OK
    lines = [json.loads(line) for line in again.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["file", "summary"]
    assert lines[0]["encoding"] == "utf-8" and lines[0]["text_col"] == "text"
    summary = lines[-1]
    assert (summary["read"], summary["analysed"], summary["skipped_existing"],
            summary["stored"], summary["status"]) == (12, 0, 12, 0, "ok")
    assert len(db_rows(db)) == 12


def test_partial_exit_code_and_errors_listed_by_row(tmp_path, model_dir):
    path = tmp_path / "gaps.jsonl"
    path.write_text('{"text": "so happy"}\n{"text": \n{"text": ""}\n{"text": "sad"}\n',
                    encoding="utf-8")
    result = invoke(str(path), "--model", model_dir, "--db", str(tmp_path / "r.db"))
    assert result.exit_code == EXIT_PARTIAL
    assert f"{path}:2: not valid JSON" in result.stderr
    assert f"{path}:3: empty text" in result.stderr
    assert len(db_rows(tmp_path / "r.db")) == 2


def test_many_errors_are_cut_to_the_first_twenty(tmp_path, model_dir):
    path = tmp_path / "empty.csv"
    path.write_text("text,n\nok,1\n" + "".join(f",{i}\n" for i in range(30)), encoding="utf-8")
    result = invoke(str(path), "--model", model_dir, "--db", str(tmp_path / "r.db"))
    assert result.exit_code == EXIT_PARTIAL
    assert result.stderr.count("empty text") == 20 and "and 10 more errors" in result.stderr


def test_nothing_processed_is_an_error(tmp_path, model_dir):
    junk = tmp_path / "photo.txt"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    result = invoke(str(junk), "--model", model_dir, "--db", str(tmp_path / "r.db"))
    assert result.exit_code == EXIT_ERROR
    assert "looks binary" in result.stderr


def test_a_failed_file_among_good_ones_is_partial(tmp_path, model_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    write_csv(folder / "a.csv", 3)
    (folder / "b.txt").write_bytes(bytes(range(256)) * 4)
    result = invoke(str(folder), "--model", model_dir, "--db", str(tmp_path / "r.db"))
    assert result.exit_code == EXIT_PARTIAL
    assert "b.txt looks binary" in result.stderr and "total" in result.stdout


def test_missing_column_names_the_columns(tmp_path, model_dir):
    path = write_csv(tmp_path / "posts.csv", 2)
    result = invoke(str(path), "--model", model_dir, "--db", str(tmp_path / "r.db"),
                    "--text-col", "body")
    assert result.exit_code == EXIT_ERROR
    message = " ".join(result.stderr.split())
    assert "'body'" in message and "'id', 'text', 'when', 'channel'" in message


def test_gb18030_file_reports_its_encoding(tmp_path, model_dir):
    path = tmp_path / "weibo.csv"
    path.write_text("微博内容,用户\n今天很开心,a\n气死我了,b\n", encoding="gb18030")
    result = invoke(str(path), "--model", model_dir, "--db", str(tmp_path / "r.db"), "--json")
    assert result.exit_code == EXIT_OK
    first = json.loads(result.stdout.splitlines()[0])
    assert (first["encoding"], first["text_col"], first["stored"]) == ("gb18030", "微博内容", 2)
    texts = {r[4] for r in db_rows(tmp_path / "r.db")}
    assert texts == {"今天很开心", "气死我了"}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_out_is_complete_even_for_items_already_stored(tmp_path, model_dir, suffix):
    path = write_csv(tmp_path / "posts.csv", 15)
    db, out = tmp_path / "r.db", tmp_path / f"results{suffix}"
    common = [str(path), "--model", model_dir, "--db", str(db), "--id-col", "id"]
    assert invoke(*common, "--chunk-size", "4").exit_code == EXIT_OK
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM results WHERE row > 10")
    result = invoke(*common, "--out", str(out))
    assert result.exit_code == EXIT_OK, result.output
    frame = {".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True),
             ".parquet": pd.read_parquet}[suffix](out)
    assert list(frame["row"]) == list(range(1, 16))
    assert list(frame["item_id"].astype(str)) == [str(i) for i in range(15)]
    assert frame["text"].iloc[0] == "I love this #0"
    assert set(frame["label"]) <= set(CANONICAL)
    assert {f"p_{label}" for label in CANONICAL} <= set(frame.columns)


def test_store_text_hash_and_no_store(tmp_path, model_dir):
    path = write_csv(tmp_path / "posts.csv", 4)
    out = tmp_path / "o.jsonl"
    result = invoke(str(path), "--model", model_dir, "--db", str(tmp_path / "r.db"),
                    "--store-text", "hash", "--out", str(out))
    assert result.exit_code == EXIT_OK
    assert all(r[4] is None for r in db_rows(tmp_path / "r.db"))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4 and "text" not in rows[0] and len(rows[0]["text_sha256"]) == 64

    no_db = tmp_path / "never.db"
    result = invoke(str(path), "--model", model_dir, "--db", str(no_db), "--no-store", "--quiet")
    assert result.exit_code == EXIT_OK and not no_db.exists() and result.stdout == ""


def test_usage_errors(tmp_path, model_dir):
    path = write_csv(tmp_path / "posts.csv", 2)
    assert invoke(str(path), "--store-text", "some").exit_code == EXIT_USAGE
    assert invoke(str(path), "--language", "fr").exit_code == EXIT_USAGE
    result = invoke(str(path), "--model", model_dir, "--db", str(tmp_path / "r.db"),
                    "--out", str(tmp_path / "o.xlsx"))
    assert result.exit_code == EXIT_USAGE and ".parquet" in result.stderr


def console_script() -> str:
    script = Path(sys.executable).with_name("emolens")
    if not script.exists():
        pytest.skip("the emolens console script is not installed next to this Python")
    return str(script)


def script_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOLENS_")}
    env["EMOLENS_CONFIG"] = ""
    return env


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / MODEL_FILE).is_file(),
                    reason="the shipped default model is not built")
def test_console_script_with_the_shipped_default_model(tmp_path):
    db, out = tmp_path / "r.db", tmp_path / "out.csv"
    proc = subprocess.run(
        [console_script(), "analyze", "file", str(SAMPLE), "--db", str(db), "--out", str(out),
         "--time-col", "created_at", "--group-col", "channel", "--id-col", "id"],
        capture_output=True, text=True, encoding="utf-8", env=script_env(tmp_path), timeout=300,
    )
    assert proc.returncode == EXIT_OK, proc.stderr
    expected = len(pd.read_csv(SAMPLE))
    frame = pd.read_csv(out)
    assert len(frame) == expected == len(db_rows(db))
    assert set(frame["label"]) <= set(CANONICAL) and frame["model"].iloc[0].startswith("default@")
    assert set(frame["language"]) == {"en", "zh"}
    assert frame["timestamp"].notna().all()


def test_killed_run_resumes_and_stores_each_item_once(tmp_path, model_dir):
    n, chunk = 6000, 20
    path = write_csv(tmp_path / "big.csv", n)
    db = tmp_path / "r.db"
    args = [console_script(), "analyze", "file", str(path), "--model", model_dir,
            "--db", str(db), "--quiet"]
    proc = subprocess.Popen([*args, "--chunk-size", str(chunk)], env=script_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while count_rows(db) < 2 * chunk:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run stored nothing within 2 minutes"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stored = count_rows(db)
    assert 0 < stored < n, "the run finished before it could be killed; make the file bigger"
    assert stored % chunk == 0  # only whole chunks were committed

    done = subprocess.run([*args, "--json"], env=script_env(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == EXIT_OK, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["skipped_existing"], summary["analysed"]) == (stored, n - stored)
    keys = [r[0] for r in db_rows(db)]
    assert len(keys) == len(set(keys)) == n
    assert sorted(r[2] for r in db_rows(db)) == list(range(1, n + 1))


def test_a_reader_that_goes_away_stops_the_output_quietly(tmp_path, model_dir):
    # `emolens analyze file ... --json | head -c 10`: the pipe is closed before any output.
    path = write_csv(tmp_path / "posts.csv", 50)
    db = tmp_path / "r.db"
    proc = subprocess.Popen(
        [console_script(), "analyze", "file", str(path), "--model", model_dir, "--db", str(db),
         "--json"], env=script_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert "Broken pipe" not in stderr and "Traceback" not in stderr
    assert count_rows(db) == 50  # the results were stored before the output was written


def count_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def test_an_out_file_that_is_an_input_is_refused_and_the_input_kept(tmp_path, model_dir):
    # Opening --out truncates it: it once wiped the user's only copy of the data.
    path = write_csv(tmp_path / "posts.csv", 5)
    before = path.read_bytes()
    result = invoke(str(path), "--model", model_dir, "--db", str(tmp_path / "r.db"),
                    "--out", str(path))
    assert result.exit_code == EXIT_USAGE and "input file" in result.stderr
    assert path.read_bytes() == before


def analyze_text(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(app, ["analyze", "text", *args], input=stdin,
                              env={"COLUMNS": "200"})


def test_analyze_text_shows_brackets_as_typed(model_dir):
    # Table cells are Rich markup: "[doge]" vanished and "[/]" crashed the command.
    result = analyze_text("bad [/] tag", "太好笑了[doge]", "--model", model_dir)
    assert result.exit_code == EXIT_OK, result.output
    assert "bad [/] tag" in result.output and "太好笑了[doge]" in result.output


def test_analyze_text_decodes_gbk_stdin_and_non_utf8_arguments(model_dir):
    piped = analyze_text("-", "--json", "--model", model_dir,
                         stdin="今天很开心\n气死我了\n".encode("gbk"))
    assert piped.exit_code == EXIT_OK, piped.output
    rows = [json.loads(line) for line in piped.output.splitlines()]
    assert [r["text"] for r in rows] == ["今天很开心", "气死我了"]
    assert {r["language"] for r in rows} == {"zh"}
    # A Latin-1 terminal's "café": Python hands the byte 0xE9 over as a lone surrogate.
    typed = analyze_text("caf\udce9 is great", "--json", "--model", model_dir)
    assert typed.exit_code == EXIT_OK, typed.output
    assert json.loads(typed.output)["text"] == "café is great"
    assert analyze_text("sad", "-", "--model", model_dir).exit_code == EXIT_USAGE


def test_bad_settings_and_unwritable_paths_are_one_line_errors(tmp_path, model_dir,
                                                               monkeypatch):
    monkeypatch.setenv("EMOLENS_BATCH_SIZE", "abc")
    result = analyze_text("hello", "--model", model_dir)
    assert result.exit_code == EXIT_ERROR and result.exception.__class__ is SystemExit
    assert "EMOLENS_BATCH_SIZE" in result.stderr and "Traceback" not in result.output
    monkeypatch.delenv("EMOLENS_BATCH_SIZE")
    db, not_a_folder = tmp_path / "r.db", tmp_path / "taken"
    invoke(str(write_csv(tmp_path / "posts.csv", 3)), "--model", model_dir, "--db", str(db))
    not_a_folder.write_text("a file where the report folder should go")
    report = CliRunner().invoke(app, ["report", "--db", str(db), "--out", str(not_a_folder)])
    assert report.exit_code == EXIT_ERROR and str(not_a_folder) in report.stderr
    assert isinstance(report.exception, SystemExit)


def test_column_options_on_a_txt_file_are_named_as_ignored(tmp_path, model_dir):
    path = tmp_path / "posts.txt"
    path.write_text("I love this\nso angry\n", encoding="utf-8")
    result = invoke(str(path), "--model", model_dir, "--db", str(tmp_path / "r.db"),
                    "--time-col", "created_at")
    assert result.exit_code == EXIT_OK
    assert "--time-col ignored" in result.output


def test_a_reversed_time_range_is_a_usage_error_that_says_so(tmp_path, model_dir):
    db = tmp_path / "r.db"
    invoke(str(write_csv(tmp_path / "posts.csv", 3)), "--model", model_dir, "--db", str(db))
    report = CliRunner().invoke(app, ["report", "--db", str(db), "--since", "2024-03-01",
                                      "--until", "2024-01-01"], env={"COLUMNS": "300"})
    assert report.exit_code == EXIT_USAGE
    assert "is not before --until" in report.output


def test_with_id_col_rows_added_above_are_the_only_new_items(tmp_path, model_dir):
    # Keyed by row, a line inserted at the top made every row new and doubled the store.
    path, db = write_csv(tmp_path / "posts.csv", 6), tmp_path / "r.db"
    args = ["--model", model_dir, "--db", str(db), "--id-col", "id", "--json"]
    assert invoke(str(path), *args).exit_code == EXIT_OK
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], "99,a brand new post,2024-04-01 12:00,ch0",
                               *lines[1:]]) + "\n", encoding="utf-8")
    second = invoke(str(path), *args)
    assert second.exit_code == EXIT_OK, second.output
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert len(db_rows(db)) == 7
    assert summary["analysed"] == 1 and summary["skipped_existing"] == 6


def test_report_source_takes_a_relative_file_or_a_folder(tmp_path, model_dir, monkeypatch):
    # Sources are stored as absolute file paths: "report --source posts" or a relative
    # file name once matched nothing.
    folder = tmp_path / "posts"
    folder.mkdir()
    write_csv(folder / "a.csv", 4), write_csv(folder / "b.csv", 3)
    write_csv(tmp_path / "other.csv", 5)
    db = tmp_path / "r.db"
    for path in (folder, tmp_path / "other.csv"):
        assert invoke(str(path), "--model", model_dir, "--db", str(db)).exit_code == EXIT_OK
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for source, expected in (("posts", 7), ("posts/b.csv", 3), ("other.csv", 5)):
        out = tmp_path / f"rep[{expected}]"
        result = runner.invoke(app, ["report", "--db", str(db), "--source", source,
                                     "--out", str(out)], env={"COLUMNS": "300"})
        assert result.exit_code == EXIT_OK, result.output
        assert f"report of {expected} results" in result.output
        assert str(out / "report.html") in result.output and (out / "report.html").is_file()


def test_a_duplicated_text_column_is_refused_naming_file_and_column(tmp_path, model_dir):
    path = tmp_path / "dh.csv"
    path.write_text("comment,comment\nfirst happy text,second angry text furious\n",
                    encoding="utf-8")
    out = tmp_path / "out.csv"
    done = invoke(str(path), "--text-col", "comment", "--no-store", "--model", model_dir,
                  "-o", str(out))
    assert done.exit_code == EXIT_ERROR, done.output
    assert "dh.csv has 2 columns named 'comment'" in done.output
    assert "second angry" not in out.read_text(encoding="utf-8-sig")
