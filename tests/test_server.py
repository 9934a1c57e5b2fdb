"""The service end to end: the real app, the shipped default model, a real SQLite file.

Most tests go through FastAPI's TestClient; the WebSocket stream, a chunked upload and
`emolens serve` itself run against a real uvicorn server on a free loopback port.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")

from fastapi.testclient import TestClient  # noqa: E402
from live_server import LiveServer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from emolens.cli import app as cli_app  # noqa: E402
from emolens.errors import InvalidInputError  # noqa: E402
from emolens.labels import CANONICAL  # noqa: E402
from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.server.keys import KeyStore, keys_table  # noqa: E402
from emolens.store import ResultStore  # noqa: E402

EXPECTED = {
    "I am so happy today, best day ever!": "joy",
    "This makes me furious, worst service I have ever had": "anger",
    "I'm terrified of what the test results will say": "fear",
    "今天真开心[哈哈]": "joy",
    "气死我了，快递又丢了！": "anger",
    "我好害怕明天的考试": "fear",
}


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch, tmp_path_factory):
    """No user config file or EMOLENS_* variable reaches the service under test."""
    for name in list(os.environ):
        if name.startswith("EMOLENS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EMOLENS_CONFIG", "")


def new_key(db: str, name: str = "test") -> str:
    with ResultStore(db) as store:
        return KeyStore(store).create(name)[1]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """An app with auth on, one key, and its database (shared by the read-mostly tests)."""
    db = str(tmp_path_factory.mktemp("service") / "emolens.db")
    key = new_key(db)
    app = create_app(ServerSettings(db=db, rate_limit=0))
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, db, key


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real uvicorn server (auth on) and a key for it."""
    db = str(tmp_path_factory.mktemp("live") / "emolens.db")
    key = new_key(db)
    settings = ServerSettings(db=db, rate_limit=0, max_body_bytes=20_000, ws_queue=4)
    with LiveServer(create_app(settings), ws_max_size=settings.max_body_bytes) as server:
        yield server, key


# -- auth --------------------------------------------------------------------------------------


def test_every_v1_route_needs_a_key(service):
    client, _, key = service
    for method, path in [("post", "/v1/analyze/text"), ("get", "/v1/results"),
                         ("get", "/v1/stats"), ("get", "/v1/models")]:
        r = client.request(method.upper(), path, json={"text": "hi"},
                           headers={"Authorization": ""})
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        assert "emolens keys create" in r.json()["detail"]
    wrong = client.get("/v1/models", headers={"Authorization": "Bearer emk_0000_nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
    garbage = client.get("/v1/models", headers={"Authorization": "Bearer x"})
    assert garbage.status_code == 401
    assert client.get("/v1/models").status_code == 200
    assert client.get("/v1/models", headers={"Authorization": "", "X-API-Key": key}).status_code \
        == 200


def test_health_docs_and_dashboard_need_no_key(service):
    client, _, _ = service
    bare = {"Authorization": ""}
    health = client.get("/healthz", headers=bare).json()
    ready = client.get("/readyz", headers=bare).json()
    assert ready["status"] == "ready" and ready["models"][0].startswith("default@")
    assert health == {"status": "ok", "models": ready["models"], "auth": True}
    page = client.get("/", headers=bare)
    assert page.status_code == 200 and "emolens" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/vendor/plotly.min.js", headers=bare).status_code == 200
    assert client.get("/static/i18n.json", headers=bare).json()["zh"]["label_joy"] == "喜悦"
    docs = client.get("/docs", headers=bare)
    assert docs.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    spec = client.get("/openapi.json", headers=bare).json()
    assert {"/v1/analyze/text", "/v1/results", "/v1/stats", "/v1/models"} <= set(spec["paths"])


def test_healthz_names_the_loaded_models_with_their_versions(tmp_path):
    """`emolens serve` loads the models before uvicorn starts, so liveness already says which
    models answer, as name@version: the id that results are stored under."""
    app = create_app(ServerSettings(db=str(tmp_path / "h.db"), auth=False,
                                    extra_models=["lexicon"]))
    service = app.state.service
    service.start()
    with TestClient(app) as client:
        models = client.get("/healthz").json()["models"]
        served = client.get("/v1/models").json()["served"]
        stored = client.post("/v1/analyze/text", json={"text": "so happy"}).json()["model"]
    ids = [f"{a.recognizer.name}@{a.recognizer.version}" for a in service.analyzers.values()]
    assert models == ids == [m["id"] for m in served] and stored == models[0]
    assert [m.split("@")[0] for m in models] == ["default", "lexicon"]
    assert all(m.split("@", 1)[1] for m in models)  # a version, not only a name


def test_keys_cli_creates_lists_and_revokes(tmp_path):
    db = str(tmp_path / "keys.db")
    runner = CliRunner()
    created = runner.invoke(cli_app, ["keys", "create", "--name", "ci", "--db", db])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    key_id = token.split("_")[1]
    with ResultStore(db) as store:
        assert KeyStore(store).verify(token).name == "ci"
        with store._engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(keys_table.select())]
    assert len(rows) == 1 and token.split("_", 2)[2] not in json.dumps(rows, default=str)
    listed = runner.invoke(cli_app, ["keys", "list", "--db", db])
    assert key_id in listed.output and "active" in listed.output
    app = create_app(ServerSettings(db=db, key_cache_seconds=0.5))
    with TestClient(app) as client:
        assert client.get("/v1/models", headers={"X-API-Key": token}).status_code == 200
        revoked = runner.invoke(cli_app, ["keys", "revoke", key_id, "--db", db])
        assert revoked.exit_code == 0, revoked.output
        time.sleep(0.6)  # a valid key is remembered for key_cache_seconds
        assert client.get("/v1/models", headers={"X-API-Key": token}).status_code == 401
    again = runner.invoke(cli_app, ["keys", "revoke", key_id, "--db", db])
    assert again.exit_code == 1 and "already revoked" in again.output


def test_auth_can_be_off_only_on_loopback(tmp_path):
    db = str(tmp_path / "x.db")
    with pytest.raises(InvalidInputError, match="loopback"):
        create_app(ServerSettings(db=db, auth=False, host="0.0.0.0"))
    with TestClient(create_app(ServerSettings(db=db, auth=False))) as client:
        assert client.post("/v1/analyze/text", json={"text": "hi"}).status_code == 200
    result = CliRunner().invoke(cli_app, ["serve", "--no-auth", "--host", "0.0.0.0",
                                          "--db", db])
    assert result.exit_code == 1 and "loopback" in result.output


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    db = str(tmp_path / "rate.db")
    key = new_key(db)
    app = create_app(ServerSettings(db=db, rate_limit=0.5, rate_burst=3))
    with TestClient(app, headers={"X-API-Key": key}) as client:
        codes = [client.get("/v1/models").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get("/v1/models")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "Rate limit" in refused.json()["detail"]
        # The body gives the same whole seconds as the header, not "retry in 1.98 s".
        assert refused.json()["detail"].endswith(f"retry in {refused.headers['retry-after']} s.")
        other = new_key(db, "other")  # buckets are per key
        assert client.get("/v1/models", headers={"X-API-Key": other}).status_code == 200


def test_cors_is_off_by_default_and_allows_named_origins(tmp_path):
    db = str(tmp_path / "cors.db")
    preflight = {"Origin": "http://example.test", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(ServerSettings(db=db))) as client:
        r = client.options("/v1/analyze/text", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    with TestClient(create_app(ServerSettings(db=db, cors_origins=["http://example.test"]))) as c:
        r = c.options("/v1/analyze/text", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "http://example.test"


# -- analysis --------------------------------------------------------------------------------


def test_english_and_chinese_get_sensible_labels(service):
    client, _, _ = service
    r = client.post("/v1/analyze/text", json={"texts": list(EXPECTED)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"].startswith("default@") and body["stored"] == 0
    got = {x["text"]: x["label"] for x in body["results"]}
    assert got == EXPECTED
    langs = [x["language"] for x in body["results"]]
    assert langs == ["en", "en", "en", "zh", "zh", "zh"]
    for x in body["results"]:
        assert set(x["scores"]) == set(CANONICAL)
        assert sum(x["scores"].values()) == pytest.approx(1.0)
    one = client.post("/v1/analyze/text", json={"text": "一个人吃晚饭，有点难过[泪]"}).json()
    assert [x["label"] for x in one["results"]] == ["sadness"]


def test_malformed_requests_get_422_with_a_reason(service):
    client, _, _ = service
    bad_json = client.post("/v1/analyze/text", content=b'{"text": "hi",',
                           headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 422
    assert bad_json.json()["detail"].startswith("body is not valid JSON")
    cases = [
        ({}, "exactly one of 'text'"),
        ({"text": "a", "texts": ["b"]}, "exactly one of 'text'"),
        ({"texts": []}, "texts"),
        ({"text": 5}, "text"),
        ({"text": "hi", "language": "fr"}, "language"),
        ({"text": "hi", "path": "/etc/passwd"}, "path"),  # unknown fields are refused
        ({"text": "hi", "model": "/etc/passwd"}, "not served here"),  # never a file path
        ({"text": "hi", "model": "lexicon"}, "served: ['default']"),
        ({"text": "hi", "timestamp": 0}, "ISO 8601"),  # not read as a Unix time
        ({"text": None, "texts": ["hi"]}, "text"),
        ({"text": "hi", "store": 0}, "store"),
    ]
    for body, reason in cases:
        r = client.post("/v1/analyze/text", json=body)
        assert r.status_code == 422, body
        assert reason in r.json()["detail"], (body, r.json())
    assert client.get("/v1/results?limit=0").status_code == 422
    assert client.get("/v1/results?since=yesterday").status_code == 422
    assert client.get(f"/v1/results?offset={10**30}").status_code == 422
    for number in ("0.5", "1700000000", "6.8e-64"):
        assert "ISO 8601" in client.get(f"/v1/stats?until={number}").json()["detail"]


def test_limits_on_body_text_and_batch(tmp_path):
    db = str(tmp_path / "limits.db")
    settings = ServerSettings(db=db, auth=False, max_body_bytes=2_000, max_request_chars=300,
                              max_batch=3)
    with TestClient(create_app(settings)) as client:
        big = client.post("/v1/analyze/text", json={"text": "x" * 5_000})
        assert big.status_code == 413 and "2000 bytes" in big.json()["detail"]
        long = client.post("/v1/analyze/text", json={"text": "y" * 301})
        assert long.status_code == 422 and "limit is 300" in long.json()["detail"]
        many = client.post("/v1/analyze/text", json={"texts": ["a", "b", "c", "d"]})
        assert many.status_code == 422 and "limit is 3" in many.json()["detail"]
        assert client.post("/v1/analyze/text", json={"texts": ["a", "b", "c"]}).status_code == 200


def test_stored_results_come_back_filtered_paged_and_counted(tmp_path):
    db = str(tmp_path / "store.db")
    key = new_key(db)
    with TestClient(create_app(ServerSettings(db=db, rate_limit=0)),
                    headers={"X-API-Key": key}) as client:
        en = [t for t in EXPECTED if t.isascii()]
        zh = [t for t in EXPECTED if not t.isascii()]
        for texts, group in ((en, "en-posts"), (zh, "zh-posts")):
            r = client.post("/v1/analyze/text", json={
                "texts": texts, "store": True, "source": "app", "group": group,
                "timestamp": "2024-05-01T12:00:00Z"})
            assert r.json()["stored"] == 3
        again = client.post("/v1/analyze/text", json={
            "texts": en, "store": True, "source": "app", "group": "en-posts",
            "timestamp": "2024-05-01T12:00:00Z"})
        assert again.json()["stored"] == 0  # a retry stores nothing twice
        client.post("/v1/analyze/text", json={"text": "=HYPERLINK(\"x\")", "store": True,
                                              "group": "en-posts"})

        assert client.get("/v1/results", params={"limit": 10**9}).json()["limit"] == 1000
        page = client.get("/v1/results", params={"source": "app", "limit": 2}).json()
        assert page["total"] == 6 and len(page["items"]) == 2
        rest = client.get("/v1/results", params={"source": "app", "limit": 5, "offset": 2})
        ids = [x["id"] for x in page["items"] + rest.json()["items"]]
        assert len(set(ids)) == 6 and ids == sorted(ids, reverse=True)  # newest first
        joy = client.get("/v1/results", params={"label": "joy"}).json()
        assert {x["text"] for x in joy["items"]} == {t for t, v in EXPECTED.items() if v == "joy"}
        zh_items = client.get("/v1/results", params={"group": "zh-posts"}).json()["items"]
        assert {x["text"] for x in zh_items} == set(zh)
        assert all(x["source_id"] == "app" and x["modality"] == "text" for x in zh_items)
        assert zh_items[0]["timestamp"] == "2024-05-01T12:00:00Z"  # times come back in UTC
        timed = client.get("/v1/results", params={"since": "2024-05-01T00:00:00",
                                                  "until": "2024-05-02"}).json()
        assert timed["total"] == 6
        assert client.get("/v1/results", params={"modality": "audio"}).json()["total"] == 0

        stats = client.get("/v1/stats", params={"source": "app"}).json()
        assert stats["total"] == 6
        dist = dict(zip(stats["distribution"]["labels"], stats["distribution"]["counts"],
                        strict=True))
        assert dist["joy"] == dist["anger"] == dist["fear"] == 2 and sum(dist.values()) == 6
        assert stats["heatmap"]["groups"] == ["en-posts", "zh-posts"]
        assert stats["heatmap"]["shares"]["joy"] == [pytest.approx(100 / 3, abs=0.01)] * 2
        assert stats["trend"]["time_column"] == "timestamp" and sum(stats["trend"]["counts"]) == 6
        assert stats["colors"]["joy"] == "#e6b000"
        assert client.get("/v1/stats", params={"group": "none"}).json()["total"] == 0

        client.post("/v1/analyze/text", json={"text": "old", "store": True, "group": "past",
                                              "timestamp": "1161-02-01T21:53:53Z"})
        wide = client.get("/v1/stats", params={"bucket": "hour"}).json()["trend"]
        assert wide["starts"] == [] and "narrow since/until" in wide["note"]
        assert client.get("/v1/stats", params={"group": "past"}).json()["total"] == 1

        exported = client.get("/v1/results", params={"format": "csv", "source": "app"})
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(rows) == 6 == int(exported.headers["x-total-count"])
        assert {"label", "text", "group", "p_joy"} <= set(rows[0])
        formula = client.get("/v1/results", params={"format": "csv", "source": "api"}).text
        assert "'=HYPERLINK" in formula  # a spreadsheet will not run it


# -- a real server: HTTP, WebSocket, shutdown ---------------------------------------------------


def test_http_round_trip_and_chunked_upload_limit(live):
    server, key = live
    headers = {"Authorization": f"Bearer {key}"}
    r = httpx.post(f"{server.url}/v1/analyze/text", headers=headers,
                   json={"texts": ["今天真开心[哈哈]", "I am so happy today, best day ever!"]})
    assert r.status_code == 200 and [x["label"] for x in r.json()["results"]] == ["joy", "joy"]

    def chunks():
        yield b'{"text": "'
        for _ in range(30):
            yield b"a" * 1_000
        yield b'"}'

    streamed = httpx.post(f"{server.url}/v1/analyze/text", content=chunks(),
                          headers={**headers, "Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # still serving


def test_websocket_streams_results_in_order(live):
    server, key = live
    texts = list(EXPECTED) * 5
    with connect(f"{server.ws_url}/v1/stream/text",
                 additional_headers={"X-API-Key": key}) as ws:
        for i, text in enumerate(texts):  # all sent before reading: the queue fills
            ws.send(json.dumps({"text": text, "id": i}))
        replies = [json.loads(ws.recv(timeout=60)) for _ in texts]
        ws.send(json.dumps({"texts": ["气死我了，快递又丢了！", "I am so happy"], "id": "b"}))
        batch = json.loads(ws.recv(timeout=60))
    assert [r["seq"] for r in replies] == list(range(1, len(texts) + 1))
    assert [r["id"] for r in replies] == list(range(len(texts)))
    assert [r["results"][0]["label"] for r in replies] == [EXPECTED[t] for t in texts]
    assert batch["id"] == "b" and [x["label"] for x in batch["results"]] == ["anger", "joy"]


@pytest.mark.parametrize(
    ("send", "code", "reason"),
    [
        ('{"text": "I am happy"', 1007, "message 1: not valid JSON"),
        ('{"words": "hi"}', 1007, "message 1:"),
        ('{"text": "hi", "model": "/etc/passwd"}', 1007, "not served here"),
        (b"\x00\x01", 1003, "binary frames"),
        ('{"text": "' + "z" * 25_000 + '"}', 1009, ""),
    ],
)
def test_websocket_closes_with_a_code_and_reason_on_bad_input(live, send, code, reason):
    server, key = live
    with connect(f"{server.ws_url}/v1/stream/text", additional_headers={"X-API-Key": key},
                 max_size=None) as ws:
        ws.send(json.dumps({"text": "first is fine"}))
        assert json.loads(ws.recv(timeout=30))["seq"] == 1
        ws.send(send)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd.code == code
    assert reason.replace("message 1", "message 2") in closed.value.rcvd.reason


def test_websocket_needs_a_key(live):
    server, _ = live
    with connect(f"{server.ws_url}/v1/stream/text") as ws, pytest.raises(ConnectionClosed) as c:
        ws.recv(timeout=30)
    assert c.value.rcvd.code == 4401 and "API key missing" in c.value.rcvd.reason


def test_emolens_serve_starts_says_so_and_stops_gracefully(tmp_path):
    db = str(tmp_path / "serve.db")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "emolens.cli", "serve", "--port", str(port), "--db", db,
         "--no-auth"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/analyze/text",
                       json={"text": "我好害怕明天的考试", "store": True})
        assert r.json()["results"][0]["label"] == "fear"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output and "model default" in output
    assert "auth OFF" in output and "Application shutdown complete" in output
    with ResultStore(db) as store:
        assert store.count() == 1


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
