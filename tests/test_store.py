"""ResultStore on real SQLite files and a real PostgreSQL server: insert, dedup, text modes,
filters, times with zones, errors, concurrency."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import select

from emolens.errors import EmolensError, InvalidInputError, StoreError
from emolens.labels import CANONICAL
from emolens.pipeline import text_hash
from emolens.store import ResultStore
from emolens.store.schema import results_table
from emolens.types import EmotionResult


def make_result(i: int, **fields: object) -> EmotionResult:
    """A result with scores over CANONICAL peaking at label number ``i % 7``."""
    top = CANONICAL[i % len(CANONICAL)]
    scores = {x: (0.4 if x == top else 0.1) for x in CANONICAL}
    values = {
        "label": top, "scores": scores, "valence": 0.1, "arousal": -0.2, "language": "en",
        "model": "m1", "text": f"text number {i}", "source_id": "a.csv", "group": "g1",
        "timestamp": datetime(2024, 5, 1) + timedelta(hours=i),
    }
    values.update(fields)
    return EmotionResult(**values)


@pytest.fixture
def store(store_url):
    """A new store on each backend: SQLite, then PostgreSQL (see tests/postgres.py)."""
    with ResultStore(store_url) as s:
        yield s


def test_add_dedups_and_reads_back(store):
    results = [make_result(i) for i in range(10)]
    assert store.add(results) == 10
    assert store.add(results) == 0
    assert store.add(results[:3] + [make_result(10)]) == 1
    assert store.count() == 11
    assert store.add([make_result(0, model="m2")]) == 1  # same item, other model
    frame = store.to_frame(model="m1")
    assert len(frame) == 11
    assert [c for c in frame.columns if c.startswith("p_")] == [f"p_{x}" for x in CANONICAL]
    first = frame.iloc[0]
    assert first["item_key"] == text_hash("text number 0")
    assert first["label"] == "anger" and first["p_anger"] == pytest.approx(0.4)
    assert first["group"] == "g1" and first["valence"] == pytest.approx(0.1)
    assert first["timestamp"] == datetime(2024, 5, 1)


def test_duplicates_within_one_call_count_once(store):
    assert store.add([make_result(1), make_result(1)]) == 1


def test_store_text_modes(store):
    store.add([make_result(0, item_key="full")], store_text="full")
    store.add([make_result(1, item_key="hash")], store_text="hash")
    store.add([make_result(2, item_key="none")], store_text="none")
    rows = store.to_frame().set_index("item_key")
    assert rows.loc["full", "text"] == "text number 0"
    assert rows.loc["full", "text_hash"] == text_hash("text number 0")
    assert pd.isna(rows.loc["hash", "text"])
    assert rows.loc["hash", "text_hash"] == text_hash("text number 1")
    assert pd.isna(rows.loc["none", "text"]) and pd.isna(rows.loc["none", "text_hash"])
    with pytest.raises(InvalidInputError, match="store_text"):
        store.add([make_result(3)], store_text="some")


def test_result_without_key_or_text_is_refused(store):
    with pytest.raises(InvalidInputError, match="item_key"):
        store.add([make_result(0, text=None)])


def test_existing_keys_in_chunks(store):
    results = [make_result(i, item_key=f"k{i}") for i in range(1200)]
    assert store.add(results) == 1200
    asked = [f"k{i}" for i in range(0, 2400, 2)]
    assert store.existing_keys(asked, "m1") == {f"k{i}" for i in range(0, 1200, 2)}
    assert store.existing_keys(asked, "other") == set()


def test_to_frame_filters(store):
    china = timezone(timedelta(hours=8))
    store.add([
        make_result(0, source_id="a.csv", group="g1"),
        make_result(1, source_id="b.csv", group="客服"),
        make_result(2, source_id="b.csv", group="g1", timestamp=None),
        # 2024-05-01 10:00 in UTC+8 is 02:00 UTC
        make_result(3, source_id="a.csv", timestamp=datetime(2024, 5, 1, 10, tzinfo=china)),
    ])
    assert store.sources() == ["a.csv", "b.csv"]
    assert len(store.to_frame(source="b.csv")) == 2
    assert store.to_frame(group="客服")["text"].tolist() == ["text number 1"]
    assert store.to_frame(label="fear")["text"].tolist() == ["text number 2"]
    assert len(store.to_frame(model="nope")) == 0
    window = store.to_frame(since="2024-05-01T01:00", until=datetime(2024, 5, 1, 2, 30))
    assert sorted(window["text"]) == ["text number 1", "text number 3"]
    # an item with no time of its own is filtered by when it was stored
    recent = store.to_frame(since=datetime.now() - timedelta(days=1))
    assert "text number 2" in recent["text"].tolist()
    with pytest.raises(InvalidInputError, match="ISO"):
        store.to_frame(since="last tuesday")


def test_empty_frame_has_all_columns(store):
    frame = store.to_frame()
    assert frame.empty
    assert {"id", "item_key", "group", "timestamp", "label", "created_at"} <= set(frame.columns)


def test_sqlite_file_uses_wal(tmp_path):
    path = tmp_path / "wal.db"
    ResultStore(str(path)).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_url_and_memory(tmp_path):
    with ResultStore(f"sqlite:///{tmp_path / 'u.db'}") as s:
        assert s.add([make_result(0)]) == 1
    with ResultStore(":memory:") as s:
        assert s.count() == 0


def test_directory_path_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match=str(tmp_path)) as info:
        ResultStore(str(tmp_path))
    assert isinstance(info.value, EmolensError) and isinstance(info.value, OSError)


def test_file_that_is_not_sqlite_is_a_store_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="notes.db"):
        ResultStore(str(path))


def test_two_writers_and_a_reader(store_url):
    path = store_url
    ResultStore(path).close()
    inserted: list[int] = []
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write(offset: int) -> None:
        try:
            with ResultStore(path) as s:
                for start in range(offset, offset + 200, 20):  # writers overlap on 100 keys
                    inserted.append(s.add([make_result(i) for i in range(start, start + 20)]))
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    def read() -> None:
        try:
            with ResultStore(path) as s:
                while not done.is_set():
                    seen.append(len(s.to_frame()))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(o,)) for o in (0, 100)]
    reader = threading.Thread(target=read)
    reader.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    reader.join()
    assert errors == []
    assert sum(inserted) == 300
    assert seen and seen == sorted(seen)  # the reader saw committed rows only, never fewer
    with ResultStore(path) as s:
        assert s.count() == 300


def test_times_are_utc_on_every_backend(store):
    china = timezone(timedelta(hours=8))
    store.add([
        make_result(0, item_key="aware", timestamp=datetime(2024, 5, 1, 10, tzinfo=china)),
        make_result(1, item_key="naive", timestamp=datetime(2024, 5, 1, 10)),
    ])
    frame = store.to_frame().set_index("item_key")
    assert frame.loc["aware", "timestamp"] == datetime(2024, 5, 1, 2)  # read back as naive UTC
    assert frame.loc["naive", "timestamp"] == datetime(2024, 5, 1, 10)  # taken to be UTC
    stored = frame.loc["aware", "created_at"].to_pydatetime()
    assert abs(stored - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5)
    aware_since = datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=-1)))  # 10:30 UTC
    assert store.to_frame(until=aware_since)["item_key"].tolist() == ["aware", "naive"]
    assert store.to_frame(since=aware_since).empty


def test_text_and_scores_read_back_alike_on_every_backend(store):
    text = "nul \x00 inside, 表情 😡, and a tab\t"
    scores = {"zz": 0.5, "aa": 0.25, "客服": 0.25}  # not canonical, not sorted
    store.add([make_result(0, text=text, scores=scores, label="zz", group="客服")])
    frame = store.to_frame()
    stored = frame["text"].iloc[0]
    # PostgreSQL text cannot hold NUL: it is stored as U+FFFD; the hash is of the text given.
    assert stored in (text, text.replace("\x00", "\ufffd"))
    assert frame["text_hash"].iloc[0] == text_hash(text)
    with store._engine.connect() as conn:
        (raw,) = conn.execute(select(results_table.c.scores)).one()
    assert list(raw) == ["zz", "aa", "客服"]  # the model's label order is kept
    assert frame[["p_aa", "p_zz", "p_客服"]].iloc[0].tolist() == [0.25, 0.5, 0.25]


def test_many_rows_in_one_call(store):
    results = [make_result(i, item_key=f"k{i:05d}") for i in range(5000)]
    assert store.add(results[:3000]) == 3000
    assert store.add(results) == 2000
    frame = store.to_frame()
    assert frame["item_key"].tolist() == [f"k{i:05d}" for i in range(5000)]  # insertion order


def test_a_few_small_details_are_kept_and_read_back(store):
    import numpy as np

    from emolens.batch import StoredResults

    details = {"voice": {"joy": 0.7, "anger": 0.3}, "words": None, "fusion_weights":
               {"voice": 0.6, "words": 0.4}, "vad_threshold": 0.25, "row": 3,
               "modalities": np.array([0.5, 0.5]),  # not JSON: left out, not an error
               "transcript": "personal words", "box": [1, 2, 3, 4]}
    store.add([make_result(0, item_key="k0", details=details), make_result(1, item_key="k1")])
    (first, plain), = store.iter_results()
    assert first.details["voice"] == {"joy": 0.7, "anger": 0.3}
    assert {"words", "fusion_weights", "vad_threshold", "row"} <= set(first.details)
    assert not {"modalities", "transcript", "box"} & set(first.details)
    assert set(plain.details) == {"text_hash", "stored_at"}
    stored = StoredResults(store, "a.csv", "m1")
    assert stored.get("k0").details == {"voice": {"joy": 0.7, "anger": 0.3}, "words": None,
                                         "fusion_weights": {"voice": 0.6, "words": 0.4},
                                         "vad_threshold": 0.25, "stored_before": True}
    assert stored.get("k1").details == {"stored_before": True}
    assert stored.get("nothing") is None
