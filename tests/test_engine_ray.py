"""`emolens analyze file --engine ray` on a real local Ray instance (2 CPUs) with the shipped
default model: the same stores and --out files as the local engine, bad rows reported the
same way, and a run interrupted after its first stored batch resumes without duplicates."""

from __future__ import annotations

import csv
import json
import math
import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emolens.batch_ray import RayOptions, analyze_paths_ray
from emolens.cli import EXIT_ERROR, EXIT_PARTIAL, EXIT_USAGE, app
from emolens.pipeline import build_analyzer
from emolens.store import ResultStore

pytestmark = pytest.mark.usefixtures("isolated_settings")

TEXTS = ["I love this so much", "this is so annoying, I hate it", "I feel sad and alone today",
         "wow, I did not expect that!", "The meeting is at 3pm.", "今天很开心", "气死我了",
         "好难过想哭", "有点害怕，不敢出门", "明天下午开会"]
N = 60
BAD = {8: "empty text", 34: "empty text"}  # file rows (header = row 0)
COLUMNS = ("--time-col", "when", "--group-col", "channel", "--id-col", "id")


def test_an_address_that_does_not_answer_fails_at_once(tmp_path, tiny_model_dir, posts):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # the engine would join it instead
        pytest.skip("Ray is already initialized in this process")
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = analyze(str(posts), "--model", tiny_model_dir, "--db", str(tmp_path / "r.db"),
                     "--engine", "ray", "--address", f"127.0.0.1:{port}")
    assert result.exit_code == EXIT_ERROR
    assert f"Cannot reach the Ray cluster at 127.0.0.1:{port}" in result.stderr


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module; the engine joins it and leaves it running."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def posts(tmp_path_factory) -> Path:
    """60 rows in English and Chinese, two of them empty, one with a time that cannot be read."""
    path = tmp_path_factory.mktemp("in") / "posts.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "when", "channel"])
        for i in range(N):
            text = "" if i + 1 in BAD else f"{TEXTS[i % len(TEXTS)]} #{i}"
            when = "soon" if i == 20 else f"2024-03-{1 + i % 28:02d} 12:{i % 60:02d}"
            writer.writerow([f"p{i}", text, when, f"ch{i % 3}"])
    return path


def analyze(*args: str):
    return CliRunner().invoke(app, ["analyze", "file", *args])


@pytest.fixture(scope="module")
def local(posts, tmp_path_factory):
    """The local engine's run: its store, --out file and JSON summary."""
    folder = tmp_path_factory.mktemp("local")
    db, out = folder / "r.db", folder / "out.jsonl"
    result = analyze(str(posts), *COLUMNS, "--db", str(db), "--out", str(out),
                     "--chunk-size", "10", "--json")
    assert result.exit_code == EXIT_PARTIAL, result.output
    return db, out, json.loads(result.stdout.splitlines()[-1])


def stored(db: Path) -> list[dict]:
    """Every stored result, by item key, without the store's own id and time of storing."""
    with ResultStore(str(db)) as store:
        frame = store.to_frame()
    frame = frame.drop(columns=["id", "created_at"]).sort_values("item_key")
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def assert_same(left: list[dict], right: list[dict]) -> None:
    """Equal records, floats within 1e-6 (workers may batch the texts differently)."""
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            if isinstance(a[name], float) and isinstance(b[name], float):
                assert math.isclose(a[name], b[name], rel_tol=1e-6, abs_tol=1e-6), name
            elif isinstance(a[name], dict):
                assert_same([a[name]], [b[name]])
            else:
                assert a[name] == b[name], (name, a[name], b[name])


def out_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_ray_engine_stores_and_writes_what_the_local_engine_does(
    ray_instance, posts, local, tmp_path
):
    local_db, local_out, local_summary = local
    db, out = tmp_path / "r.db", tmp_path / "out.jsonl"
    result = analyze(str(posts), *COLUMNS, "--db", str(db), "--out", str(out),
                     "--chunk-size", "10", "--json", "--engine", "ray", "--workers", "2")
    assert result.exit_code == EXIT_PARTIAL, result.output
    for row, message in BAD.items():
        assert f"{posts}:{row}: {message}" in result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    counts = ("read", "analysed", "skipped_existing", "stored", "errors", "warnings", "status")
    assert [summary[k] for k in counts] == [local_summary[k] for k in counts]
    assert summary["read"] == N - len(BAD) and summary["stored"] == N - len(BAD)
    assert summary["warning_list"] == local_summary["warning_list"]
    assert sum(w["items"] for w in summary["workers"].values()) == N - len(BAD)
    assert all(w["peak_rss_mib"] > 50 for w in summary["workers"].values())

    assert_same(stored(db), stored(local_db))
    assert_same(out_rows(out), out_rows(local_out))  # in file order, like the local engine's

    again = analyze(str(posts), *COLUMNS, "--db", str(db), "--json", "--engine", "ray")
    summary = json.loads(again.stdout.splitlines()[-1])
    assert (summary["analysed"], summary["skipped_existing"], summary["workers"]) == (
        0, N - len(BAD), {})  # nothing left to analyse: Ray is not even used


def test_an_interrupted_ray_run_resumes_without_duplicates(ray_instance, posts, local, tmp_path):
    analyzer = build_analyzer()
    db = tmp_path / "r.db"
    columns = {"time_col": "when", "group_col": "channel", "id_col": "id", "chunk_size": 10}
    with ResultStore(str(db)) as store:

        def stop_once_something_is_stored(rows: int) -> None:
            if len(store.to_frame()):
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            analyze_paths_ray([posts], analyzer, store, progress=stop_once_something_is_stored,
                              **columns)
        first = stored(db)
        assert 0 < len(first) < N - len(BAD)
        assert len({r["item_key"] for r in first}) == len(first)

        kept = []  # the rest in two windows (two Ray Data runs); the sink still gets file order
        report = analyze_paths_ray([posts], analyzer, store, sink=kept.extend,
                                   options=RayOptions(workers=2, window=30), **columns)
    assert (report.skipped_existing, report.analysed) == (len(first), N - len(BAD) - len(first))
    assert report.error_count == len(BAD) and report.status == "partial"
    assert_same(stored(db), stored(local[0]))
    assert [r.details["row"] for r in kept] == [row["row"] for row in out_rows(local[1])]
    assert [r.details.get("stored_before", False) for r in kept].count(True) == len(first)


def test_ray_options_need_the_ray_engine(tmp_path, tiny_model_dir, posts):
    result = analyze(str(posts), "--model", tiny_model_dir, "--db", str(tmp_path / "r.db"),
                     "--workers", "3")
    assert result.exit_code == EXIT_USAGE and "need --engine ray" in result.output


def test_without_ray_installed_the_error_says_how_to_install_it(
    tmp_path, tiny_model_dir, posts, monkeypatch
):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    result = analyze(str(posts), "--model", tiny_model_dir, "--db", str(tmp_path / "r.db"),
                     "--engine", "ray")
    assert result.exit_code == EXIT_ERROR
    assert "pip install 'emolens[ray]'" in result.stderr
    assert not (tmp_path / "r.db").exists() or not stored(tmp_path / "r.db")
