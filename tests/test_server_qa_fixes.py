"""Fixes from a QA pass over `emolens serve`: a model name alone matches its stored versions,
client ids keep identical texts apart, JSON reads are audited, a port in use is one error,
time filters read as the CLI reads them, analysis times come back in UTC, `keys list` never
creates a store, and a body that is not UTF-8 JSON is refused saying so. The real app and the
shipped default model on real SQLite files (TestClient), and `emolens serve` through its CLI.
"""

from __future__ import annotations

import hashlib
import json
import socket

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")

from fastapi.testclient import TestClient  # noqa: E402
from test_server import new_key  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from emolens.cli import EXIT_ERROR  # noqa: E402
from emolens.cli import app as cli_app  # noqa: E402
from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.store import ResultStore  # noqa: E402
from emolens.types import EmotionResult  # noqa: E402

WIDE = {"COLUMNS": "400"}  # CLI messages on one line


pytestmark = pytest.mark.usefixtures("isolated_settings")  # conftest: no user settings


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """An app with auth on and a key, on its own SQLite file."""
    db = str(tmp_path_factory.mktemp("qa") / "emolens.db")
    key = new_key(db, "qa")
    with TestClient(create_app(ServerSettings(db=db, rate_limit=0)),
                    headers={"X-API-Key": key}) as client:
        yield client, db


def analyze(client, **body):
    r = client.post("/v1/analyze/text", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def one_line(result) -> str:
    return " ".join(result.output.split())


# -- 1. a model name alone matches every stored version -----------------------------------------


def test_a_model_name_alone_matches_each_stored_version_as_the_cli_does(served):
    client, db = served
    served_id = analyze(client, texts=["so happy", "so angry"], store=True, group="models")["model"]
    older = EmotionResult(label="joy", scores={"joy": 1.0}, model="default@0.0.1", text="old",
                          source_id="api", item_key="qa-old", group="models")
    other = older.model_copy(update={"model": "lexicon@1.0", "item_key": "qa-lex"})
    with ResultStore(db) as store:
        assert store.add([older, other]) == 2

    def total(route: str, model: str) -> int:
        r = client.get(route, params={"model": model, "group": "models"})
        assert r.status_code == 200, r.text
        return r.json()["total"]

    for route in ("/v1/results", "/v1/stats"):
        assert total(route, "default") == 3  # both versions of default, not lexicon
        assert total(route, served_id) == 2
        assert total(route, "default@0.0.1") == 1
        assert total(route, "defaul") == 0  # a name, not a prefix
    items = client.get("/v1/results", params={"model": "default", "group": "models"}).json()
    assert {x["model"] for x in items["items"]} == {served_id, "default@0.0.1"}
    spec = client.get("/openapi.json").json()
    (param,) = [p for p in spec["paths"]["/v1/results"]["get"]["parameters"]
                if p["name"] == "model"]
    assert "a name alone" in param["description"] and "each of its versions" in \
        param["description"]


# -- 2. identical texts, client ids, idempotent retries --------------------------------------


def test_identical_texts_are_one_item_unless_ids_tell_them_apart(served):
    client, _ = served
    first = analyze(client, texts=["thanks!", "thanks!"], store=True, group="ids")
    assert (first["stored"], first["already_stored"]) == (1, 1)
    again = analyze(client, text="thanks!", store=True, group="ids")
    assert (again["stored"], again["already_stored"]) == (0, 1)

    with_ids = analyze(client, texts=["thanks!", "thanks!"], ids=["m-1", "m-2"], store=True,
                       group="ids")
    assert (with_ids["stored"], with_ids["already_stored"]) == (2, 0)
    assert [x["details"]["item_id"] for x in with_ids["results"]] == ["m-1", "m-2"]
    retry = analyze(client, texts=["thanks!", "thanks!"], ids=["m-1", "m-2"], store=True,
                    group="ids")
    assert (retry["stored"], retry["already_stored"]) == (0, 2)  # a retry stays idempotent
    single = analyze(client, text="thanks!", id="m-3", store=True, group="ids")
    assert (single["stored"], single["already_stored"]) == (1, 0)

    page = client.get("/v1/results", params={"group": "ids"}).json()
    assert page["total"] == 4
    assert sorted(x["details"].get("item_id") or "" for x in page["items"]) == \
        ["", "m-1", "m-2", "m-3"]
    csv_text = client.get("/v1/results", params={"group": "ids", "format": "csv"}).text
    assert "m-1" in csv_text and "m-3" in csv_text


@pytest.mark.parametrize(("body", "reason"), [
    ({"texts": ["a", "b"], "ids": ["1"]}, "'ids' has 1 ids for 2 texts"),
    ({"texts": ["a", "b"], "ids": ["1", "1"]}, "'ids' gives '1' twice"),
    ({"texts": ["a", "b"], "id": "1"}, "'id' goes with 'text'"),
    ({"text": "a", "id": "1", "ids": ["2"]}, "'id' goes with 'text'"),
    ({"text": "a", "id": ""}, "id: String should have at least 1 character"),
])
def test_ids_that_do_not_fit_the_texts_are_refused(served, body, reason):
    client, _ = served
    r = client.post("/v1/analyze/text", json=body)
    assert r.status_code == 422 and reason in r.json()["detail"], r.json()


def test_a_websocket_message_id_is_echoed_not_taken_as_the_item_id(served):
    client, _ = served
    with client.websocket_connect("/v1/stream/text",
                                  headers={"X-API-Key": client.headers["X-API-Key"]}) as ws:
        replies = []
        for message_id in (1, 2):
            ws.send_text(json.dumps({"text": "ws thanks", "id": message_id, "store": True,
                                     "group": "ws"}))
            replies.append(ws.receive_json())
    assert [r["id"] for r in replies] == [1, 2]
    assert [(r["stored"], r["already_stored"]) for r in replies] == [(1, 0), (0, 1)]
    assert "item_id" not in replies[0]["results"][0]["details"]


# -- 3. JSON reads are audited as CSV exports are ---------------------------------------------


def test_a_json_page_of_results_is_written_to_the_audit_log(tmp_path):
    db = str(tmp_path / "audit.db")
    key = new_key(db, "reader")
    with TestClient(create_app(ServerSettings(db=db, rate_limit=0)),
                    headers={"X-API-Key": key}) as client:
        analyze(client, texts=["so happy", "so angry"], store=True, group="a")
        page = client.get("/v1/results", params={"group": "a", "limit": 5}).json()
        assert page["total"] == 2
        (entry,) = client.get("/v1/audit").json()["items"]
    assert entry["route"] == "GET /v1/results" and entry["rows_returned"] == 2
    assert entry["key_name"] == "reader" and entry["key_id"] == key.split("_")[1]
    assert entry["filters"] == {"group": "a", "limit": 5, "offset": 0, "format": "json"}


# -- 4. a port in use ----------------------------------------------------------------------------


def test_serve_on_a_port_in_use_says_so_and_exits_1_before_starting(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli_app, ["serve", "--no-auth", "--port", str(port),
                                              "--db", str(tmp_path / "s.db")], env=WIDE)
    said = one_line(result)
    assert result.exit_code == EXIT_ERROR, result.output
    assert f"error: port {port} on 127.0.0.1 is in use" in said
    assert "emolens serve: http" not in said and "startup complete" not in said


def test_a_failed_uvicorn_start_is_exit_1_not_3(tmp_path, monkeypatch):
    """Should the port be taken between the check and uvicorn's bind, uvicorn exits 3, which
    in emolens means partly done: the command says it did not start and exits 1."""
    monkeypatch.setattr("emolens.server.commands._check_port", lambda host, port: None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli_app, [
            "serve", "--no-auth", "--port", str(port), "--db", str(tmp_path / "s.db"),
            "--model", "ngram", "--log-level", "critical"], env=WIDE)
    assert result.exit_code == EXIT_ERROR, result.output
    assert f"error: the service did not start on http://127.0.0.1:{port}" in one_line(result)


# -- 5. time filters as the CLI reads them -------------------------------------------------------


def test_time_filters_take_ages_and_say_what_is_wrong_as_the_cli_does(served):
    client, _ = served
    analyze(client, text="recent and happy", store=True, group="times")
    analyze(client, text="long ago and happy", store=True, group="times",
            timestamp="2020-01-01T00:00:00Z")
    for since, expected in (("7d", 1), ("12h", 1), ("4w", 1), ("2019-12-31", 2)):
        r = client.get("/v1/results", params={"group": "times", "since": since})
        assert r.status_code == 200 and r.json()["total"] == expected, (since, r.text)
    assert client.get("/v1/stats", params={"group": "times", "since": "7d"}).json()["total"] == 1
    for route in ("/v1/alerts", "/v1/audit"):
        assert client.get(route, params={"since": "30m"}).status_code == 200, route

    refusals = [
        ("/v1/results", {"since": "yesterday"}, "since: 'yesterday' is neither an age (30m, "
         "12h, 7d, 4w) nor an ISO 8601 time"),
        ("/v1/stats", {"until": "7d"}, "until: '7d' is not an ISO 8601 time"),
        ("/v1/alerts", {"since": "x"}, "since: 'x' is neither an age"),
        ("/v1/audit", {"since": "99999999999d"}, "reaches back before the year 1"),
        ("/v1/results", {"since": "2024-02-01", "until": "2024-01-01"}, "swap them?"),
        ("/v1/results", {"until": "0001-01-01T00:00:00+14:00"}, "out of range"),
    ]
    for route, params, reason in refusals:
        r = client.get(route, params=params)
        assert r.status_code == 422 and reason in r.json()["detail"], (route, r.json())


# -- 6. analysis times in UTC --------------------------------------------------------------------


def test_an_analysis_echoes_its_timestamp_in_utc_and_keeps_its_item_key(served):
    client, _ = served
    given = "2026-03-02T08:00:00+08:00"
    body = analyze(client, text="qa utc", timestamp=given, store=True, group="utc")
    (result,) = body["results"]
    assert result["timestamp"] == "2026-03-02T00:00:00Z"
    # The key is the one items stored before this fix got: a retry of an old request adds none.
    ident = json.dumps(["api", "utc", given, "qa utc"], ensure_ascii=False)
    assert result["item_key"] == "api:" + hashlib.sha256(ident.encode()).hexdigest()
    (stored,) = client.get("/v1/results", params={"group": "utc"}).json()["items"]
    assert stored["timestamp"] == result["timestamp"]


# -- 7. `keys list` never creates a store -------------------------------------------------------


@pytest.mark.parametrize("args", [["list"], ["revoke", "abcd1234"]])
def test_reading_key_commands_refuse_a_missing_store_and_create_nothing(tmp_path, args):
    typo = tmp_path / "typo.db"
    result = CliRunner().invoke(cli_app, ["keys", *args, "--db", str(typo)], env=WIDE)
    assert result.exit_code == EXIT_ERROR, result.output
    assert f"No result store at {typo}" in one_line(result)
    assert list(tmp_path.iterdir()) == []
    created = CliRunner().invoke(cli_app, ["keys", "create", "--db", str(typo)], env=WIDE)
    assert created.exit_code == 0 and typo.exists()
    assert CliRunner().invoke(cli_app, ["keys", "list", "--db", str(typo)]).exit_code == 0


# -- 8. a body that is not UTF-8 JSON ----------------------------------------------------------


def test_a_body_that_is_not_utf8_json_is_refused_naming_the_problem(served):
    client, _ = served
    # GBK's 谢谢 is also valid UTF-8 (as other characters): the charset said is refused.
    gbk = client.post("/v1/analyze/text", content='{"text": "谢谢"}'.encode("gbk"),
                      headers={"Content-Type": "application/json; charset=gbk"})
    assert gbk.status_code == 415
    assert "charset=gbk: the body must be UTF-8 JSON" in gbk.json()["detail"]
    undeclared = client.post("/v1/analyze/text", content='{"text": "你好"}'.encode("gbk"),
                             headers={"Content-Type": "application/json"})
    assert undeclared.status_code == 400
    assert undeclared.json()["detail"] == ("The body is not UTF-8 (byte 0xc4 at offset 10): "
                                           "the body must be UTF-8 JSON.")
    ascii_latin1 = client.post("/v1/analyze/text", content=b'{"text": "thanks"}',
                               headers={"Content-Type": "application/json; charset=ISO-8859-1"})
    assert ascii_latin1.status_code == 200  # ASCII reads the same in either
    for content_type in ("text/plain", None, "application/x-www-form-urlencoded"):
        headers = {"Content-Type": content_type} if content_type else {}
        r = client.post("/v1/analyze/text", content=b"hello", headers=headers)
        assert r.status_code == 415, (content_type, r.text)
        assert "must be UTF-8 JSON" in r.json()["detail"]
        assert "application/json" in r.json()["detail"]
    utf8 = client.post("/v1/analyze/text", content='{"text": "谢谢"}'.encode(),
                       headers={"Content-Type": "application/json; charset=utf-8"})
    assert utf8.status_code == 200 and utf8.json()["results"][0]["text"] == "谢谢"
    spec = client.get("/openapi.json").json()
    assert "415" in spec["paths"]["/v1/analyze/text"]["post"]["responses"]
