"""A browser cannot set headers on a WebSocket, so the streams also take the API key as the
subprotocol ``emolens.key.<key>`` offered beside ``emolens`` (what the dashboard's live mode
does); the server agrees to ``emolens``. Real app, real key store, the default text model."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")

from fastapi.testclient import TestClient  # noqa: E402

from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.server.keys import KeyStore  # noqa: E402
from emolens.store import ResultStore  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated_settings")


def test_streams_take_the_key_as_a_subprotocol(tmp_path):
    db = str(tmp_path / "k.db")
    with ResultStore(db) as store:
        key = KeyStore(store).create("browser")[1]
    offered = ["emolens", f"emolens.key.{key}"]
    with TestClient(create_app(ServerSettings(db=db, rate_limit=0))) as client:
        with client.websocket_connect("/v1/stream/text", subprotocols=offered) as ws:
            assert ws.accepted_subprotocol == "emolens"
            ws.send_json({"text": "I am so happy today!", "id": 1})
            reply = ws.receive_json()
        assert reply["id"] == 1 and reply["results"][0]["label"] == "joy"

        # The key passes on the speech and video streams too; they are not served here.
        for path, extra in (("/v1/stream/audio", "--audio"), ("/v1/stream/video", "--vision")):
            with client.websocket_connect(path, subprotocols=offered) as ws:
                closed = ws.receive()
            assert closed["code"] == 4404 and extra in closed["reason"]

        bad = ["emolens", "emolens.key.emk_00000000_notakey"]
        with client.websocket_connect("/v1/stream/text", subprotocols=bad) as ws:
            closed = ws.receive()
        assert closed["code"] == 4401 and "not valid" in closed["reason"]
        with client.websocket_connect("/v1/stream/text", subprotocols=["emolens"]) as ws:
            closed = ws.receive()
        assert closed["code"] == 4401 and "missing" in closed["reason"]
        with client.websocket_connect("/v1/stream/text") as ws:  # no subprotocol: none agreed
            assert ws.accepted_subprotocol is None
            assert ws.receive()["code"] == 4401


def test_a_header_key_wins_over_a_subprotocol(tmp_path):
    db = str(tmp_path / "k.db")
    with ResultStore(db) as store:
        key = KeyStore(store).create("app")[1]
    with TestClient(create_app(ServerSettings(db=db, rate_limit=0))) as client, \
            client.websocket_connect("/v1/stream/text", headers={"Authorization": f"Bearer {key}"},
                                     subprotocols=["emolens.key.emk_0_bad"]) as ws:
        assert ws.accepted_subprotocol is None  # "emolens" was not offered
        ws.send_json({"text": "气死我了！"})
        assert ws.receive_json()["results"][0]["label"] == "anger"
