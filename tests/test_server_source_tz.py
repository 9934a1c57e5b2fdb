"""The service reads a request's `timestamp` written without an offset in the source_tz setting
(EMOLENS_SOURCE_TZ) or the request's own `source_tz`, and stores it in UTC, as the file, export
and feed connectors do; a time with an offset is stored as it was. The real app (TestClient),
the shipped default model and a real SQLite file, whose stored times are read with sqlite3."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")

from fastapi.testclient import TestClient  # noqa: E402

from emolens.server import ServerSettings, create_app  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated_settings")


def stored_times(db: Path) -> dict[str, datetime | None]:
    """text -> the time the results table holds for it, as SQLite holds it (UTC)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT text, timestamp FROM results").fetchall()
    return {text: None if when is None else datetime.fromisoformat(when) for text, when in rows}


def post(client: TestClient, text: str, **fields: object) -> dict:
    r = client.post("/v1/analyze/text", json={"text": text, "store": True, **fields})
    assert r.status_code == 200, r.text
    return r.json()


def test_naive_request_times_are_read_in_the_source_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOLENS_SOURCE_TZ", "Asia/Shanghai")
    db = tmp_path / "tz.db"
    # Settings as `emolens serve` reads them: the env variable, not an argument.
    settings = ServerSettings(db=str(db), auth=False, rate_limit=0)
    assert settings.source_tz == "Asia/Shanghai"
    with TestClient(create_app(settings)) as client:
        naive = post(client, "I am so happy today", timestamp="2024-03-01T12:00:00")
        # The reply says which moment was stored: noon in Beijing is 04:00 UTC.
        assert naive["results"][0]["timestamp"] == "2024-03-01T04:00:00Z"
        aware = post(client, "This makes me furious", timestamp="2024-03-01T12:00:00+02:00")
        assert aware["results"][0]["timestamp"] == "2024-03-01T10:00:00Z"  # in UTC too
        post(client, "What a lovely surprise", timestamp="2024-03-01T04:00:00Z")
        # A request may name its own zone; New York is UTC-4 in July (daylight saving).
        post(client, "I miss you so much", timestamp="2024-07-15 12:00",
             source_tz="America/New_York")
        post(client, "so tired of waiting", timestamp="2024-03-01T12:00:00", source_tz="UTC")
        post(client, "no time given")

        assert stored_times(db) == {
            "I am so happy today": datetime(2024, 3, 1, 4),
            "This makes me furious": datetime(2024, 3, 1, 10),
            "What a lovely surprise": datetime(2024, 3, 1, 4),
            "I miss you so much": datetime(2024, 7, 15, 16),
            "so tired of waiting": datetime(2024, 3, 1, 12),
            "no time given": None,
        }
        # Read back in UTC, and found by a UTC filter around 04:00.
        found = client.get("/v1/results", params={"since": "2024-03-01T03:00:00Z",
                                                   "until": "2024-03-01T05:00:00Z"}).json()
        assert {x["text"] for x in found["items"]} == {"I am so happy today",
                                                       "What a lovely surprise"}
        assert {x["timestamp"] for x in found["items"]} == {"2024-03-01T04:00:00Z"}

        # A retry is the same item; the same wall time in another zone is another moment.
        assert post(client, "I am so happy today", timestamp="2024-03-01T12:00:00")["stored"] == 0
        other = post(client, "I am so happy today", timestamp="2024-03-01T12:00:00",
                     source_tz="Europe/Berlin")
        assert other["stored"] == 1 and other["results"][0]["timestamp"] == "2024-03-01T11:00:00Z"


def test_naive_request_times_stay_utc_by_default(tmp_path):
    db = tmp_path / "utc.db"
    with TestClient(create_app(ServerSettings(db=str(db), auth=False, rate_limit=0))) as client:
        reply = post(client, "I am so happy today", timestamp="2024-03-01T12:00:00")
        assert reply["results"][0]["timestamp"] == "2024-03-01T12:00:00Z"
    assert stored_times(db) == {"I am so happy today": datetime(2024, 3, 1, 12)}


def test_a_bad_zone_or_a_time_out_of_range_is_a_clear_422(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOLENS_SOURCE_TZ", "Asia/Shanghai")
    db = tmp_path / "bad.db"
    with TestClient(create_app(ServerSettings(db=str(db), auth=False, rate_limit=0))) as client:
        cases = [
            ({"source_tz": "Mars/Base"}, "source_tz: Value error, Unknown time zone 'Mars/Base'"),
            ({"source_tz": "asia/shanghai"}, "Did you mean 'Asia/Shanghai'?"),
            ({"source_tz": "Asia"}, "Unknown time zone 'Asia'"),  # a folder, not a zone
            ({"source_tz": "x" * 65}, "source_tz: String should have at most 64 characters"),
            ({"source_tz": None, "timestamp": "0001-01-01T00:00:00"},
             "timestamp 0001-01-01T00:00:00 in Asia/Shanghai is out of range once converted "
             "to UTC"),
        ]
        for fields, reason in cases:
            r = client.post("/v1/analyze/text", json={"text": "hi", "store": True, **fields})
            assert r.status_code == 422, (fields, r.text)
            assert reason in r.json()["detail"], (fields, r.json())
        # The same time is fine where it stays within the calendar once in UTC.
        assert post(client, "hi", timestamp="0001-01-01T00:00:00", source_tz="UTC")["stored"] == 1
    assert stored_times(db) == {"hi": datetime(1, 1, 1)}
