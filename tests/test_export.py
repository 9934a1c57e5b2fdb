"""`emolens export`: stored results out to CSV/JSONL/Parquet or standard output, with the
item's own id (migration 0006), filters, models trained on other labels, and clear errors;
the service's CSV export carries the id too. Real CLI, real SQLite (and PostgreSQL) stores."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import inspect
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, app
from emolens.labels import CANONICAL
from emolens.store import ResultStore
from emolens.store.migrate import alembic_config, head_revision, schema_state
from emolens.store.schema import results_table
from emolens.store.sql import open_database
from emolens.text.ngram import NgramRecognizer
from emolens.types import EmotionResult

pytestmark = pytest.mark.usefixtures("isolated_settings")

POSTS = [
    ("p-17", "2024-05-01 10:00", "shop", "I love this so much, thank you!"),
    ("p-03", "2024-05-02 09:30", "app", "气死我了，快递又丢了"),
    ("p-42", "2024-06-10 18:00", "shop", "This is awful, I am so angry"),
]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def analysed(tmp_path, tiny_model_dir) -> tuple[Path, Path]:
    """A CSV of posts with their own ids, analysed into a new SQLite store."""
    posts = tmp_path / "posts.csv"
    with posts.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["post_id", "created", "channel", "body"])
        writer.writerows(POSTS)
    db = tmp_path / "results.db"
    done = run("analyze", "file", str(posts), "--text-col", "body", "--id-col", "post_id",
               "--time-col", "created", "--group-col", "channel", "--model", tiny_model_dir,
               "--db", str(db))
    assert done.exit_code == EXIT_OK, done.output
    return posts, db


def test_export_to_csv_gives_back_the_items_own_ids_in_the_order_stored(analysed, tmp_path):
    posts, db = analysed
    out = tmp_path / "all.csv"
    done = run("export", "--db", str(db), "--out", str(out))
    assert done.exit_code == EXIT_OK, done.output
    assert "exported 3 results" in done.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # for Excel, as analyze --out writes
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert frame["item_id"].tolist() == ["p-17", "p-03", "p-42"]
    assert frame["text"].tolist() == [body for *_, body in POSTS]
    assert frame["group"].tolist() == ["shop", "app", "shop"]
    assert frame["source"].tolist() == [str(posts.resolve())] * 3
    assert frame["row"].tolist() == [1, 2, 3]
    with ResultStore(str(db)) as store:
        stored = store.to_frame()
    assert frame["label"].tolist() == stored["label"].tolist()
    assert frame["item_id"].tolist() == stored["item_id"].tolist()
    # scores sum to 1 over the labels the model gives, and the top one is the label
    scores = frame[[c for c in frame if c.startswith("p_")]]
    assert scores.sum(axis=1).round(6).eq(1.0).all()
    assert [c.removeprefix("p_") for c in scores.idxmax(axis=1)] == frame["label"].tolist()
    assert pd.to_datetime(frame["stored_at"]).notna().all()
    assert pd.to_datetime(frame["timestamp"]).dt.month.tolist() == [5, 5, 6]


def test_export_to_stdout_filters_and_other_formats(analysed, tmp_path):
    posts, db = analysed
    done = run("export", "--db", str(db), "--group", "shop")
    assert done.exit_code == EXIT_OK, done.output
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["item_id"] for r in table] == ["p-17", "p-42"]

    done = run("export", "--db", str(db), "--since", "2024-06-01", "-o",
               str(tmp_path / "june.jsonl"))
    assert done.exit_code == EXIT_OK, done.output
    lines = (tmp_path / "june.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["item_id"] for line in lines] == ["p-42"]

    # a relative path to the analysed file selects its results, as `report --source` does
    done = run("export", "--db", str(db), "--source", str(posts), "--text", "hash", "-o",
               str(tmp_path / "hashed.parquet"))
    assert done.exit_code == EXIT_OK, done.output
    frame = pd.read_parquet(tmp_path / "hashed.parquet")
    assert "text" not in frame
    assert frame["text_sha256"].tolist() == [
        hashlib.sha256(body.encode("utf-8")).hexdigest() for *_, body in POSTS]

    labels = pd.read_parquet(tmp_path / "hashed.parquet")["label"].tolist()
    first = labels[0]
    done = run("export", "--db", str(db), "--label", first)
    assert done.exit_code == EXIT_OK, done.output
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(table) == labels.count(first) and {r["label"] for r in table} == {first}


def test_nothing_matching_writes_the_header_and_says_so(analysed):
    _, db = analysed
    done = run("export", "--db", str(db), "--since", "2030-01-01")
    assert done.exit_code == EXIT_OK
    assert done.stdout.splitlines()[0].startswith("source,row,item_id,")
    assert len(done.stdout.splitlines()) == 1
    assert "no stored results match" in done.stderr


def test_bad_requests_are_clear_errors(tmp_path, analysed):
    _, db = analysed
    missing = run("export", "--db", str(tmp_path / "none.db"))
    assert missing.exit_code == EXIT_ERROR
    assert "No result store at" in missing.output
    assert not (tmp_path / "none.db").exists()  # not created just to export nothing
    swapped = run("export", "--db", str(db), "--since", "2025-01-01", "--until", "2024-01-01")
    assert swapped.exit_code == EXIT_USAGE and "swap them" in swapped.output
    not_a_time = run("export", "--db", str(db), "--until", "yesterday")
    assert not_a_time.exit_code == EXIT_USAGE and "ISO 8601" in not_a_time.output
    wrong_format = run("export", "--db", str(db), "--out", str(tmp_path / "x.xlsx"))
    assert wrong_format.exit_code == EXIT_USAGE and ".csv" in wrong_format.output


def test_a_model_trained_on_other_labels_exports_its_own_score_columns(tmp_path):
    texts = ["so boring, nothing happens", "yawn, dull lecture", "what a gripping talk",
             "I was hooked from the start"]
    model = NgramRecognizer(name="engagement", version="1", min_df=1)
    model.fit(texts, ["bored", "bored", "engaged", "engaged"])
    results = model_results(model, ["dull and boring", "gripping!"])
    db = str(tmp_path / "own.db")
    with ResultStore(db) as store:
        store.add(results)
    done = run("export", "--db", db)
    assert done.exit_code == EXIT_OK, done.output
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert {"p_bored", "p_engaged"} <= set(rows[0])
    assert not any(f"p_{x}" in rows[0] for x in CANONICAL)
    assert [r["item_id"] for r in rows] == ["own-0", "own-1"]
    for row in rows:
        assert abs(float(row["p_bored"]) + float(row["p_engaged"]) - 1.0) < 1e-6


def model_results(model: NgramRecognizer, texts: list[str]) -> list[EmotionResult]:
    probs = model.predict_proba(texts, ["en"] * len(texts))
    return [EmotionResult(label=model.labels[int(p.argmax())],
                          scores=dict(zip(model.labels, map(float, p), strict=True)), text=text,
                          model="engagement@1", item_key=f"k{i}",
                          details={"item_id": f"own-{i}"})
            for i, (text, p) in enumerate(zip(texts, probs, strict=True))]


def test_a_store_at_0005_gains_item_id_and_keeps_its_rows(store_url):
    engine, _ = open_database(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
        conn.execute(results_table.insert().values(
            item_key="old", model="m@1", label="joy", modality="text", scores={"joy": 1.0},
            text="stored before ids", created_at=pd.Timestamp("2024-01-01").to_pydatetime()))
    assert "item_id" not in {c["name"] for c in inspect(engine).get_columns("results")}
    engine.dispose()
    with ResultStore(store_url) as store:
        assert schema_state(store.engine).current == head_revision()
        store.add([EmotionResult(label="anger", scores={"anger": 1.0}, text="new", model="m@1",
                                 item_key="new", details={"item_id": 12345})])
        frame = store.to_frame()
        (chunk,) = list(store.iter_results())
    assert frame["text"].tolist() == ["stored before ids", "new"]
    assert frame["item_id"].isna().tolist() == [True, False]
    assert frame["item_id"].iloc[1] == "12345"  # ids are kept as text (JSON ids may be numbers)
    assert "item_id" not in chunk[0].details and chunk[1].details["item_id"] == "12345"


def test_the_services_csv_export_carries_the_item_id(tmp_path):
    pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")
    import httpx
    from live_server import LiveServer

    from emolens.server import ServerSettings, create_app

    db = str(tmp_path / "served.db")
    with ResultStore(db) as store:
        store.add([EmotionResult(label="joy", scores={"joy": 0.9, "neutral": 0.1}, text="yay",
                                 item_key="a", model="m@1", details={"item_id": "ticket-9"}),
                   EmotionResult(label="neutral", scores={"joy": 0.2, "neutral": 0.8},
                                 text="ok", item_key="b", model="m@1")])
    with LiveServer(create_app(ServerSettings(db=db, auth=False, rate_limit=0))) as server:
        page = httpx.get(f"{server.url}/v1/results").json()
        exported = httpx.get(f"{server.url}/v1/results", params={"format": "csv"}).text
    assert [item["details"].get("item_id") for item in page["items"]] == [None, "ticket-9"]
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["item_id"] for r in rows] == ["", "ticket-9"]
