"""Speech behind the service, end to end: a real uvicorn server with audio on, the shipped
Whisper, voice and text models, real recordings, a real SQLite file; nothing mocked.

One server for the module (the speech models load once, in a few seconds).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")
pytest.importorskip("faster_whisper", reason="needs the audio extra: pip install 'emolens[audio]'")

from fastapi.testclient import TestClient  # noqa: E402
from live_server import LiveServer  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from emolens.audio.decode import load_audio  # noqa: E402
from emolens.labels import CANONICAL  # noqa: E402
from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.server.keys import KeyStore  # noqa: E402
from emolens.store import ResultStore  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "audio"
RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess_speech"
ANGRY = RAVDESS / "Actor_01" / "03-01-05-02-01-01-01.flac"  # "Kids are talking by the door"
RATE = 16_000
MAX_UPLOAD = 2_000_000


@pytest.fixture(scope="module", autouse=True)
def _no_user_settings():
    """No user config file or EMOLENS_* variable reaches the service under test."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("EMOLENS_"):
                mp.delenv(name)
        mp.setenv("EMOLENS_CONFIG", "")
        yield


@pytest.fixture(scope="module")
def recording() -> bytes:
    """Pause, an acted angry line (RAVDESS), pause, the flight complaint, pause: FLAC bytes."""
    import io

    import soundfile as sf

    if not ANGRY.is_file():
        pytest.skip(f"RAVDESS not found at {RAVDESS}")
    audio = np.concatenate([silence(1.0), load_audio(ANGRY), silence(1.5),
                            load_audio(FIXTURES / "en_flight.ogg"), silence(1.0)])
    buffer = io.BytesIO()
    sf.write(buffer, audio, RATE, format="FLAC")
    return buffer.getvalue()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real server with speech on (auth on, one live stream at a time) and a key for it."""
    db = str(tmp_path_factory.mktemp("audio") / "emolens.db")
    with ResultStore(db) as store:
        key = KeyStore(store).create("test")[1]
    settings = ServerSettings(db=db, audio=True, rate_limit=0, max_body_bytes=100_000,
                              max_upload_bytes=MAX_UPLOAD, audio_streams=1)
    with LiveServer(create_app(settings)) as server:
        yield server, {"Authorization": f"Bearer {key}"}


def post_audio(server, headers, body, content_type="audio/flac", **params) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/analyze/audio", content=body, params=params,
                      headers={**headers, "Content-Type": content_type}, timeout=300)


def declared_too_large(server, path: str, length: int, headers: dict) -> tuple[int, str]:
    """Status and detail for a request that only declares its length (no body is sent)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("POST", path)
        for name, value in {**headers, "Content-Type": "audio/wav",
                            "Content-Length": str(length)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read())["detail"]
    finally:
        conn.close()


def leftover_uploads() -> list[str]:
    return [n for n in os.listdir(tempfile.gettempdir()) if n.startswith("emolens-upload-")]


# -- uploads -------------------------------------------------------------------------------


def test_upload_gives_a_timeline_with_transcripts_and_stores_it(live, recording):
    server, headers = live
    before = leftover_uploads()
    r = post_audio(server, headers, recording, store="true", filename="call.flac")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "api-upload:" + hashlib.sha256(recording).hexdigest()[:16]
    assert body["model"].startswith("speech[asr=base")
    segments = body["segments"]
    assert len(segments) >= 2 and body["stored"] == len(segments)
    texts = " | ".join(s["text"] or "" for s in segments).lower()
    assert "door" in texts and "flight" in texts
    assert [s["t_start"] for s in segments] == sorted(s["t_start"] for s in segments)
    assert segments[0]["t_start"] >= 0.6 and segments[-1]["t_end"] <= body["duration"] + 1e-6
    assert body["duration"] == pytest.approx(len(load_audio(FIXTURES / "en_flight.ogg")) / RATE
                                             + 3.5 + len(load_audio(ANGRY)) / RATE, abs=0.05)
    for s in segments:
        assert s["modality"] == "speech" and s["language"] == "en"
        assert list(s["scores"]) == list(CANONICAL) and s["source_id"] == body["source"]
        assert set(s["details"]) >= {"voice", "words", "fusion_weights"}
    summary = body["summary"]
    assert summary["segments"] == len(segments) and summary["label"] in CANONICAL
    assert summary["source"] == body["source"]
    assert leftover_uploads() == before  # the temporary file is gone
    spec = httpx.get(f"{server.url}/openapi.json").json()["paths"]["/v1/analyze/audio"]["post"]
    assert set(spec["requestBody"]["content"]) == {"application/octet-stream", "audio/*",
                                                   "video/*"}

    stored = httpx.get(f"{server.url}/v1/results", headers=headers,
                       params={"modality": "speech", "source": body["source"]}).json()
    assert stored["total"] == len(segments)
    assert {x["text"] for x in stored["items"]} == {s["text"] for s in segments}
    assert all(x["t_start"] is not None for x in stored["items"])


def test_same_recording_under_the_same_source_is_stored_once(live):
    server, headers = live
    flight = (FIXTURES / "en_flight.ogg").read_bytes()
    first = post_audio(server, headers, flight, content_type="audio/ogg", store="true",
                       source="call-42", language="en")
    again = post_audio(server, headers, flight, content_type="application/octet-stream",
                       store="true", source="call-42")
    assert first.status_code == again.status_code == 200, again.text
    assert first.json()["stored"] >= 1 and again.json()["stored"] == 0
    assert "flight" in " ".join(s["text"] for s in again.json()["segments"]).lower()
    listed = httpx.get(f"{server.url}/v1/results", headers=headers,
                       params={"source": "call-42", "modality": "speech"}).json()
    assert listed["total"] == first.json()["stored"]


def test_an_upload_that_is_not_audio_gets_422_naming_the_problem(live):
    server, headers = live
    before = leftover_uploads()
    garbage = post_audio(server, headers, b"this is a text file, not audio\n" * 50,
                         content_type="audio/mpeg", filename="notes.mp3")
    assert garbage.status_code == 422
    detail = garbage.json()["detail"]
    assert detail.startswith("notes.mp3: ") and "not a readable audio" in detail
    assert "emolens-upload-" not in detail  # the temporary file is never shown
    empty = post_audio(server, headers, b"")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    form = post_audio(server, headers, b"a=1", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415 and "audio/*" in form.json()["detail"]
    bad_language = post_audio(server, headers, b"x", language="fr")
    assert bad_language.status_code == 422 and "language" in bad_language.json()["detail"]
    assert leftover_uploads() == before


def test_only_the_upload_route_takes_large_bodies_and_it_has_its_own_limit(live):
    server, headers = live
    status, detail = declared_too_large(server, "/v1/analyze/audio", MAX_UPLOAD + 1, headers)
    assert status == 413 and "max_upload_bytes" in detail

    def chunks():  # no Content-Length: refused as it streams in
        for _ in range(MAX_UPLOAD // 50_000 + 1):
            yield b"\0" * 50_000

    before = leftover_uploads()
    streamed = post_audio(server, headers, chunks())
    assert streamed.status_code == 413 and "max_upload_bytes" in streamed.json()["detail"]
    assert leftover_uploads() == before
    # Over max_body_bytes but under the upload limit: refused everywhere else.
    status, detail = declared_too_large(server, "/v1/analyze/text", 150_000, headers)
    assert status == 413 and "max_body_bytes" in detail
    assert httpx.get(f"{server.url}/readyz").json()["models"][-1].startswith("speech[")


def test_speech_needs_a_key(live):
    server, _ = live
    r = post_audio(server, {}, b"x")
    assert r.status_code == 401 and "API key missing" in r.json()["detail"]
    with connect(f"{server.ws_url}/v1/stream/audio") as ws, pytest.raises(ConnectionClosed) as c:
        ws.recv(timeout=30)
    assert c.value.rcvd.code == 4401


# -- live stream ---------------------------------------------------------------------------


def test_websocket_sends_each_segment_as_it_ends_then_a_summary(live, recording):
    import io

    import soundfile as sf

    server, headers = live
    audio, rate = sf.read(io.BytesIO(recording), dtype="float32")
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    chunk = RATE // 10 * 2  # 100 ms of 16-bit samples
    with connect(f"{server.ws_url}/v1/stream/audio?sample_rate={rate}&language=en",
                 additional_headers=headers) as ws:
        for i in range(0, len(pcm), chunk):
            ws.send(pcm[i : i + chunk])
        start = json.loads(ws.recv(timeout=30))
        assert start == {"type": "start", "model": start["model"], "sample_rate": rate,
                         "language": "en"}
        first = json.loads(ws.recv(timeout=120))  # before the end: the first line has ended
        assert first["type"] == "segment" and first["seq"] == 1
        ws.send(json.dumps({"end": True}))
        messages = [first]
        while messages[-1]["type"] != "summary":
            messages.append(json.loads(ws.recv(timeout=120)))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd.code == 1000
    segments = [m["result"] for m in messages[:-1]]
    assert [m["seq"] for m in messages[:-1]] == list(range(1, len(segments) + 1))
    assert "door" in segments[0]["text"].lower()
    assert any("flight" in (s["text"] or "").lower() for s in segments)
    assert all(s["modality"] == "speech" and s["t_end"] > s["t_start"] for s in segments)
    summary = messages[-1]
    assert summary["model"].startswith("speech[")
    assert summary["summary"]["segments"] == len(segments)
    assert summary["summary"]["duration"] == pytest.approx(len(audio) / rate, abs=0.01)
    assert summary["skipped_seconds"] == 0  # 8 s sent at once: within audio_max_lag_seconds


@pytest.mark.parametrize(
    ("query", "send", "code", "reason"),
    [
        ("?sample_rate=abc", None, 1007, "sample_rate must be"),
        ("?language=fr", None, 1007, "language must be"),
        ("?rate=8000", None, 1007, "unknown query parameter 'rate'"),
        ("", "hello", 1007, "frame 2: send binary"),
        ("", b"\0" * 100_001, 1009, "frame 2: over 100000 bytes"),
    ],
)
def test_websocket_closes_with_a_code_and_reason_on_bad_input(live, query, send, code, reason):
    server, headers = live
    with connect(f"{server.ws_url}/v1/stream/audio{query}", additional_headers=headers,
                 max_size=None) as ws, pytest.raises(ConnectionClosed) as closed:
        if send is not None:
            assert json.loads(ws.recv(timeout=30))["type"] == "start"
            ws.send(b"\0" * 3200)
            ws.send(send)
        ws.recv(timeout=30)
    assert closed.value.rcvd.code == code
    assert reason in closed.value.rcvd.reason


def test_a_stream_beyond_audio_streams_is_told_to_try_later(live):
    server, headers = live
    url = f"{server.ws_url}/v1/stream/audio"
    with connect(url, additional_headers=headers) as first:
        assert json.loads(first.recv(timeout=30))["type"] == "start"  # it holds the one slot
        first.send(b"\0" * 3200)
        with connect(url, additional_headers=headers) as second, \
                pytest.raises(ConnectionClosed) as busy:
            second.recv(timeout=30)
        assert busy.value.rcvd.code == 1013 and "try again later" in busy.value.rcvd.reason
        first.send(json.dumps({"end": True}))
        done = json.loads(first.recv(timeout=60))  # silence: no segment, only the summary
    assert done["type"] == "summary" and done["summary"]["segments"] == 0


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def test_a_stream_too_far_behind_skips_audio_says_so_and_keeps_answering_pings(live):
    """The analysis is held (the test takes the speech CPU lock, as a busy service would) while
    16.1 s of Chinese speech, then 7.4 s holding the English flight complaint, arrive at once;
    the limit is 8 s. The server keeps reading (a ping is answered at once), skips 0-8 s and
    8-16 s, tells the client each time, then analyses the rest: the flight complaint, with its
    times on the stream's clock, outside the skipped spans. Before, it stopped reading at
    ws_queue frames, and uvicorn closed such a stream with 1011 "keepalive ping timeout"."""
    server, headers = live
    service = server.server.config.app.state.service
    frames = RATE // 10 * 2  # 100 ms
    zh = load_audio(FIXTURES / "zh_gift.ogg")
    filler = np.concatenate([zh, silence(1.0), zh])[: int(15.5 * RATE)]
    skipped_part = pcm16(np.concatenate([filler, silence(16.1 - len(filler) / RATE)]))
    kept_part = pcm16(np.concatenate([silence(0.6), load_audio(FIXTURES / "en_flight.ogg"),
                                      silence(1.0)]))
    assert len(skipped_part) == 161 * frames and len(kept_part) < 79 * frames
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(service.settings, "audio_max_lag_seconds", 8.0)
        with connect(f"{server.ws_url}/v1/stream/audio?language=en",
                     additional_headers=headers) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "start"
            assert service.speech.cpu.acquire(timeout=120)  # the analysis cannot start
            try:
                for i in range(0, len(skipped_part), frames):
                    ws.send(skipped_part[i : i + frames])
                notes = [json.loads(ws.recv(timeout=30)) for _ in range(2)]
                assert ws.ping().wait(10), "a stream behind its analysis must answer pings"
                for i in range(0, len(kept_part), frames):
                    ws.send(kept_part[i : i + frames])
                ws.send(json.dumps({"end": True}))
            finally:
                service.speech.cpu.release()
            messages = [json.loads(ws.recv(timeout=120))]
            while messages[-1]["type"] != "summary":
                messages.append(json.loads(ws.recv(timeout=120)))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
    assert closed.value.rcvd.code == 1000
    assert [(n["type"], n["t_start"], n["t_end"], n["seconds"], n["total_seconds"], n["behind"])
            for n in notes] == [("skipped", 0.0, 8.0, 8.0, 8.0, 8.1),
                                ("skipped", 8.0, 16.0, 8.0, 16.0, 8.1)]
    assert "8.1 s behind" in notes[0]["reason"] and "audio_max_lag_seconds (8 s)" in \
        notes[0]["reason"]
    segments = [m["result"] for m in messages if m["type"] == "segment"]
    assert "flight" in " ".join(s["text"] or "" for s in segments).lower()
    for s in segments:  # on the stream's clock: after the skipped 16 s, within what was sent
        assert 16.0 <= s["t_start"] < s["t_end"] <= (161 * frames + len(kept_part)) / 2 / RATE
    summary = messages[-1]
    assert summary["skipped_seconds"] == 16.0 and summary["summary"]["segments"] == len(segments)
    assert summary["summary"]["duration"] == pytest.approx(
        (len(skipped_part) + len(kept_part)) / 2 / RATE, abs=1e-3)


# -- audio off -----------------------------------------------------------------------------


def test_without_audio_the_speech_routes_say_how_to_turn_it_on(tmp_path):
    app = create_app(ServerSettings(db=str(tmp_path / "e.db"), auth=False))
    with TestClient(app) as client:
        r = client.post("/v1/analyze/audio", content=b"x",
                        headers={"Content-Type": "audio/wav"})
        assert r.status_code == 404 and "--audio" in r.json()["detail"]
        assert client.get("/v1/models").json()["speech"] is None
        with client.websocket_connect("/v1/stream/audio") as ws:
            closed = ws.receive()
        assert closed["code"] == 4404 and "--audio" in closed["reason"]
        assert "/v1/analyze/audio" not in client.get("/openapi.json").json()["paths"]
