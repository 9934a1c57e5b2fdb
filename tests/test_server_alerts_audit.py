"""GET /v1/alerts and the audit log of exports, on a real uvicorn server on loopback with a real
SQLite store: alerts stored by the store's own functions, filtered, paged and behind a key; a
CSV export logged with the key's name and the rows it held (never the key itself); `emolens
audit`; migration 0005 on a database at 0004 (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta

import httpx
import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")

from alembic import command  # noqa: E402
from live_server import LiveServer  # noqa: E402
from sqlalchemy import inspect, select  # noqa: E402
from test_server import new_key  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from emolens.cli import app as cli_app  # noqa: E402
from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.store import ResultStore  # noqa: E402
from emolens.store.migrate import alembic_config, head_revision, schema_state  # noqa: E402
from emolens.store.schema import audit_table  # noqa: E402
from emolens.store.sql import open_database  # noqa: E402
from emolens.store.tables import add_alert, add_audit, list_alerts, list_audit  # noqa: E402

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def alert(engine, rule: str, hours_ago: float, **extra) -> int:
    """An alert as `emolens watch` stores it (tables.add_alert)."""
    values = dict(rule=rule, label="anger", share=0.4, baseline=0.1, items=30,
                  message=f"{rule}: anger is 40% of 30 items in the last 1h (threshold 30%)",
                  created_at=NOW - timedelta(hours=hours_ago),
                  details={"window": "1h", "above": 0.3, "delivered": ["log"], "failed": {}})
    return add_alert(engine, **{**values, **extra})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real server (auth on) on a store holding four alerts; a key named 'analyst'."""
    folder = tmp_path_factory.mktemp("alerts")
    with pytest.MonkeyPatch.context() as env:  # no user config or EMOLENS_* reaches it
        for name in [n for n in os.environ if n.startswith("EMOLENS_")]:
            env.delenv(name)
        env.setenv("EMOLENS_CONFIG", "")
        db = str(folder / "emolens.db")
        key = new_key(db, "analyst")
        with ResultStore(db) as store:
            alert(store.engine, "anger spike", 50)
            alert(store.engine, "fear spike", 3, label="fear")
            alert(store.engine, "anger spike", 2, details={
                "delivered": ["log"], "failed": {"ops": "webhook answered 500"}})
            alert(store.engine, "anger spike", 1, baseline=None)
        with LiveServer(create_app(ServerSettings(db=db, rate_limit=0))) as server:
            yield server, db, key


def get(server, path: str, token: str | None, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server.url + path, params=params, headers=headers, timeout=30)


def test_alerts_newest_first_filtered_and_paged(served):
    server, _, key = served
    page = get(server, "/v1/alerts", key).json()
    assert page["total"] == 4 and page["limit"] == 100 and page["offset"] == 0
    times = [a["created_at"] for a in page["items"]]
    assert times == sorted(times, reverse=True) and times[0].endswith("Z")
    newest = page["items"][0]
    assert newest["rule"] == "anger spike" and newest["baseline"] is None
    assert newest["share"] == 0.4 and newest["items"] == 30 and newest["delivered"] == ["log"]
    assert "anger is 40% of 30 items" in newest["message"]
    assert page["items"][1]["failed"] == {"ops": "webhook answered 500"}

    anger = get(server, "/v1/alerts", key, rule="anger spike").json()
    assert anger["total"] == 3 and {a["rule"] for a in anger["items"]} == {"anger spike"}
    since = (NOW - timedelta(hours=2, minutes=30)).isoformat()
    recent = get(server, "/v1/alerts", key, since=since).json()
    assert recent["total"] == 2
    assert get(server, "/v1/alerts", key, since=since + "+08:00").json()["total"] == 3
    second = get(server, "/v1/alerts", key, limit=1, offset=1).json()
    assert second["total"] == 4 and [a["id"] for a in second["items"]] == [page["items"][1]["id"]]
    assert get(server, "/v1/alerts", key, rule="no such rule").json() == {
        "total": 0, "limit": 100, "offset": 0, "items": []}
    assert get(server, "/v1/alerts", key, limit=0).status_code == 422
    assert "ISO 8601" in get(server, "/v1/alerts", key, since="1700000000").json()["detail"]
    for path in ("/v1/alerts", "/v1/results"):  # no UTC equivalent: 422, not 500
        assert get(server, path, key, since="0001-01-01T00:00:00+14:00").status_code == 422


def test_alerts_and_audit_need_a_valid_key(served):
    server, _, _ = served
    for path in ("/v1/alerts", "/v1/audit"):
        assert get(server, path, None).status_code == 401
        assert get(server, path, "emk_0000_nope").status_code == 401


def test_a_csv_export_is_audited_with_the_key_name_never_the_key(served):
    server, db, key = served
    headers = {"Authorization": f"Bearer {key}"}
    stored = httpx.post(server.url + "/v1/analyze/text", headers=headers, timeout=60, json={
        "texts": ["I am so happy today", "气死我了，快递又丢了！", "This makes me furious"],
        "store": True, "group": "audit"}).json()
    assert stored["stored"] == 3
    get(server, "/v1/results", key, group="audit")  # a JSON page is logged too
    (page,) = get(server, "/v1/audit", key).json()["items"]
    assert page["filters"]["format"] == "json" and page["rows_returned"] == 3

    export = get(server, "/v1/results", key, format="csv", group="audit", label="anger")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 2 and {r["label"] for r in rows} == {"anger"}

    entry, _ = get(server, "/v1/audit", key).json()["items"]  # newest first
    key_id = key.split("_")[1]
    assert entry["key_id"] == key_id and entry["key_name"] == "analyst"
    assert entry["route"] == "GET /v1/results" and entry["rows_returned"] == 2
    assert entry["client"] == "127.0.0.1"
    assert entry["filters"] == {"group": "audit", "label": "anger", "format": "csv",
                                "limit": 100_000, "offset": 0}
    assert get(server, "/v1/audit", key, key="other").json()["total"] == 0
    assert get(server, "/v1/audit", key, since="2999-01-01").json()["total"] == 0

    with ResultStore(db) as store, store.engine.connect() as conn:
        table = json.dumps([dict(r) for r in conn.execute(select(audit_table)).mappings()],
                           default=str)
    assert key_id in table and key not in table and key.split("_", 2)[2] not in table

    runner = CliRunner()
    shown = runner.invoke(cli_app, ["audit", "--db", db, "--json", "--since", "1h"])
    assert shown.exit_code == 0, shown.output
    logged, _ = json.loads(shown.output)
    assert logged["key_name"] == "analyst" and logged["rows_returned"] == 2
    table_out = runner.invoke(cli_app, ["audit", "--db", db], env={"COLUMNS": "200"})
    assert table_out.exit_code == 0 and "analyst" in table_out.output
    assert "no reads of stored results logged" in runner.invoke(
        cli_app, ["audit", "--db", db, "--since", "2999-01-01"]).output
    for since in ("last tuesday", "0001-01-01T00:00+14:00"):
        bad = runner.invoke(cli_app, ["audit", "--db", db, "--since", since])
        assert bad.exit_code == 2 and "ISO 8601" in bad.output


@pytest.mark.usefixtures("isolated_settings")
def test_an_export_without_auth_is_logged_as_loopback_no_auth(tmp_path):
    db = str(tmp_path / "open.db")
    with LiveServer(create_app(ServerSettings(db=db, auth=False, rate_limit=0))) as server:
        assert get(server, "/v1/results", None, format="csv").status_code == 200
        (entry,) = get(server, "/v1/audit", None).json()["items"]
    assert entry["key_id"] is None and entry["key_name"] == "loopback-no-auth"
    assert entry["rows_returned"] == 0 and entry["client"] == "127.0.0.1"


def test_a_store_at_0004_is_upgraded_to_the_audit_log_and_keeps_its_alerts(store_url):
    engine, _ = open_database(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
    alert(engine, "anger spike", 1)
    assert "audit_log" not in inspect(engine).get_table_names()
    engine.dispose()
    with ResultStore(store_url) as store:
        assert schema_state(store.engine).current == head_revision()
        assert [a["rule"] for a in list_alerts(store.engine)] == ["anger spike"]
        indexes = {i["name"] for i in inspect(store.engine).get_indexes("audit_log")}
        assert indexes == {"ix_audit_log_created_at"}
        add_audit(store.engine, key_id="abcd1234", key_name="分析", route="GET /v1/results",
                  filters={"label": "anger", "since": "2024-05-01T00:00:00+00:00"},
                  rows_returned=7, client="::1", created_at=datetime(2024, 5, 1, 8, tzinfo=UTC))
        (row,) = list_audit(store.engine, since=datetime(2024, 5, 1))
    assert row["created_at"] == datetime(2024, 5, 1, 8) and row["key_name"] == "分析"
    assert row["filters"] == {"label": "anger", "since": "2024-05-01T00:00:00+00:00"}
