"""Images and video behind the service, end to end: a real uvicorn server with vision on, the
shipped face, expression, OCR and text models, FER2013 faces pasted on a scene with a
rendered caption, a generated video, a real SQLite file; nothing mocked.

One vision server for most of the module; one with speech too for audio jobs and shutdown.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")
av = pytest.importorskip("av", reason="needs the video extra: pip install 'emolens[video]'")
pytest.importorskip("rapidocr", reason="needs the video extra: pip install 'emolens[video]'")
pytest.importorskip("faster_whisper", reason="needs the audio extra")

from clips import write_clip  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from live_server import LiveServer  # noqa: E402
from PIL import Image  # noqa: E402
from test_server_audio import declared_too_large  # noqa: E402
from test_video_pipeline import FER, faces, scene  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from emolens.labels import CANONICAL  # noqa: E402
from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.server.keys import KeyStore  # noqa: E402
from emolens.store import ResultStore  # noqa: E402
from emolens.vision.expression import FACE_DIR  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not (FACE_DIR / "emolens-model.json").is_file(),
                       reason="no face-expression model shipped yet (recipes/fer is training)"),
    pytest.mark.skipif(not FER.is_dir(), reason=f"FER2013 test crops not found at {FER}"),
]

AUDIO = Path(__file__).parent / "fixtures" / "audio" / "en_flight.ogg"
CAPTION = "What a wonderful surprise, thank you!"
MAX_IMAGE = 2_000_000
MAX_FRAME = 200_000


@pytest.fixture(scope="module", autouse=True)
def _no_user_settings():
    """No user config file or EMOLENS_* variable reaches the service under test."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("EMOLENS_"):
                mp.delenv(name)
        mp.setenv("EMOLENS_CONFIG", "")
        yield


def keys(db: str, n: int) -> list[tuple[str, dict[str, str]]]:
    """``n`` API keys: each as the caller the service sees and the headers that send it."""
    with ResultStore(db) as store:
        made = [KeyStore(store).create(f"k{i}") for i in range(n)]
    return [(f"key:{key.id}", {"Authorization": f"Bearer {token}"}) for key, token in made]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real server with vision on (auth on, one live video stream) and two keys."""
    db = str(tmp_path_factory.mktemp("vision") / "emolens.db")
    (_, mine), (_, theirs) = keys(db, 2)
    settings = ServerSettings(db=db, vision=True, rate_limit=0, max_body_bytes=MAX_FRAME,
                              max_image_bytes=MAX_IMAGE, max_upload_bytes=5_000_000,
                              video_streams=1, video_fps=4)
    with LiveServer(create_app(settings)) as server:
        yield server, mine, theirs


def png(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def people() -> list[np.ndarray]:
    """A happy face on the left, a surprised one on the right."""
    return [faces("happy", 1)[0], faces("surprise", 1)[0]]


def make_video(path: Path, seconds: int = 3, speech: bool = True) -> Path:
    """Two faces drifting right, the caption from 0.5 s to 2.5 s, and an audio track: the
    flight complaint from 0.5 s, or silence; the index is written first, so a cut file still
    opens."""
    from emolens.audio.decode import load_audio

    rate, crowd = 10, people()
    frames = (scene(crowd, CAPTION if rate // 2 <= k < 5 * rate // 2 else "", x_shift=k)
              for k in range(seconds * rate))
    sound = np.zeros(16000 * seconds, np.float32)
    if speech:
        words = load_audio(AUDIO)[: sound.size - 8000]
        sound[8000 : 8000 + words.size] = words
    return write_clip(path, frames, rate, sound, options={"movflags": "faststart"})


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> bytes:
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4").read_bytes()


def leftover_uploads() -> list[str]:
    return [n for n in os.listdir(tempfile.gettempdir()) if n.startswith("emolens-upload-")]


def post(server, path: str, headers: dict, body: bytes | None = None, content_type: str = "",
         **params) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=body, params=params, timeout=120,
                      headers={**headers, **({"Content-Type": content_type} if content_type
                                             else {})})


def wait_job(server, headers: dict, job_id: str, timeout: float = 90) -> tuple[dict, list]:
    """Poll a job until it ends; its last state and every (status, progress) seen."""
    seen, deadline = [], time.monotonic() + timeout
    while True:
        state = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=headers, timeout=30).json()
        seen.append((state["status"], state["progress_seconds"]))
        if state["status"] not in ("queued", "running"):
            return state, seen
        assert time.monotonic() < deadline, f"job still {state['status']}: {state}"
        time.sleep(0.1)


def top_two(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=scores.__getitem__, reverse=True)[:2]


# -- images ----------------------------------------------------------------------------------


def test_image_gives_faces_left_to_right_their_expressions_the_caption_and_fusion(live):
    server, mine, _ = live
    before = leftover_uploads()
    body = png(scene(people(), "Best day ever"))
    r = post(server, "/v1/analyze/image", mine, body, "image/png", store="true",
             filename="poster.png")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"].startswith("image[face=") and out["duration"] == 0
    assert out["source"].startswith("api-upload:")
    found = out["faces"]
    assert [f["group"] for f in found] == ["face 1", "face 2"]
    for face, pasted_x in zip(found, (60, 320), strict=True):  # where scene() pasted them
        x0, y0, x1, y1 = face["details"]["box"]
        assert pasted_x < (x0 + x1) / 2 < pasted_x + 120 and 60 < (y0 + y1) / 2 < 180
    assert "joy" in top_two(found[0]["scores"]), found[0]["scores"]
    for face in found:
        assert face["modality"] == "face" and list(face["scores"]) == list(CANONICAL)
        assert sum(face["scores"].values()) == pytest.approx(1.0)
    assert any("best day" in (c["text"] or "").lower() for c in out["captions"])
    assert out["captions"][0]["modality"] == "screen_text"
    assert len(out["fused"]) == 1 and set(out["fused"][0]["details"]["modalities"]) == {
        "face", "screen_text"}
    summary = out["summary"]
    assert summary["faces"] == 2 and [p["person"] for p in summary["people"]] == [1, 2]
    assert summary["label"] in CANONICAL and summary["captions"] == len(out["captions"])
    assert out["stored"] == 2 + len(out["captions"]) + 1
    stored = httpx.get(f"{server.url}/v1/results", headers=mine,
                       params={"source": out["source"], "modality": "face"}).json()
    assert stored["total"] == 2
    again = post(server, "/v1/analyze/image", mine, body, "image/png", store="true")
    assert again.json()["stored"] == 0  # the same image is stored once
    assert leftover_uploads() == before


def test_image_as_a_multipart_form_and_without_faces(live):
    server, mine, _ = live
    blank = jpeg(np.full((240, 320, 3), 200, np.uint8))
    r = httpx.post(f"{server.url}/v1/analyze/image", headers=mine, timeout=60,
                   files={"file": ("C:\\photos\\wall.jpg", blank, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["faces"] == [] and "no faces found" in r.json()["notes"]
    assert r.json()["fused"] == []
    spec = httpx.get(f"{server.url}/openapi.json").json()["paths"]["/v1/analyze/image"]["post"]
    assert set(spec["requestBody"]["content"]) == {"application/octet-stream", "image/*",
                                                   "multipart/form-data"}


def test_bad_images_get_4xx_with_a_reason_and_leave_no_file(live):
    server, mine, _ = live
    before = leftover_uploads()
    text = post(server, "/v1/analyze/image", mine, b"meeting notes, not a picture\n" * 20,
                "image/png", filename="notes.png")
    assert text.status_code == 422
    assert text.json()["detail"].startswith("notes.png: not a readable image")
    assert "emolens-upload-" not in text.json()["detail"]
    cut = post(server, "/v1/analyze/image", mine, png(scene(people(), ""))[:3000], "image/png")
    assert cut.status_code == 422 and "the upload" in cut.json()["detail"]
    empty = post(server, "/v1/analyze/image", mine, b"", "image/jpeg")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    wrong = post(server, "/v1/analyze/image", mine, b"hello", "text/plain")
    assert wrong.status_code == 415 and "image/*" in wrong.json()["detail"]
    form_type = httpx.post(f"{server.url}/v1/analyze/image", headers=mine,
                           files={"file": ("a.txt", b"hi", "text/plain")})
    assert form_type.status_code == 415
    fields_only = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n'
    no_file = post(server, "/v1/analyze/image", mine, fields_only,
                   "multipart/form-data; boundary=b")
    assert no_file.status_code == 422 and "no file" in no_file.json()["detail"]
    status, detail = declared_too_large(server, "/v1/analyze/image", MAX_IMAGE + 1, mine)
    assert status == 413 and "max_image_bytes" in detail
    assert post(server, "/v1/analyze/image", {}, b"x", "image/png").status_code == 401
    assert leftover_uploads() == before


# -- video jobs ------------------------------------------------------------------------------


def test_video_job_runs_reports_progress_and_stores_its_timeline(live, video):
    server, mine, theirs = live
    r = post(server, "/v1/analyze/video", mine, video, "video/mp4", store="true",
             source="ad-42", filename="ad.mp4")
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["kind"] == "video"
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["total_seconds"] == pytest.approx(3.0, abs=0.2) and job["result"] is None
    # Another key sees no such job, and cannot cancel it.
    other = httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=theirs)
    assert other.status_code == 404 and "No job" in other.json()["detail"]
    assert httpx.delete(f"{server.url}/v1/jobs/{job['id']}", headers=theirs).status_code == 404
    state, seen = wait_job(server, mine, job["id"])
    assert state["status"] == "done", state
    statuses = [s for s, _ in seen]
    assert statuses[-1] == "done" and "running" in statuses
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and any(0 < p < 2.5 for p in progress)
    assert state["progress"] == 1.0 and state["started_at"] and state["finished_at"]
    result = state["result"]
    assert result["source"] == "ad-42" and result["duration"] == pytest.approx(3.0, abs=0.3)
    assert len(result["summary"]["people"]) == 2  # two tracks, each stable over 12 samples
    assert all(p["detections"] >= 10 for p in result["summary"]["people"])
    assert any("wonderful surprise" in (c["text"] or "").lower() for c in result["captions"])
    assert len(result["fused"]) >= 3 and result["speech"] == []
    assert any("--audio" in n for n in result["notes"])  # the track is there, speech is off
    left = min(result["faces"], key=lambda f: f["details"]["box"][0])["details"]["track"]
    happy = [f["scores"] for f in result["faces"] if f["details"]["track"] == left]
    assert "joy" in top_two({k: np.mean([s[k] for s in happy]) for k in CANONICAL})
    assert result["stored"] == len(result["faces"]) + len(result["captions"]) + len(
        result["fused"])
    stored = httpx.get(f"{server.url}/v1/results", headers=mine,
                       params={"source": "ad-42", "modality": "face"}).json()
    assert stored["total"] == len(result["faces"])
    brief = httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=mine,
                      params={"results": "false"}).json()
    assert brief["status"] == "done" and brief["result"] is None
    # Deleting a finished job forgets it.
    gone = httpx.delete(f"{server.url}/v1/jobs/{job['id']}", headers=mine)
    assert gone.status_code == 200 and gone.json()["status"] == "done"
    assert httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=mine).status_code == 404


def test_a_cancelled_job_stops_and_stores_nothing(live, video):
    server, mine, _ = live
    job = post(server, "/v1/analyze/video", mine, video, "video/mp4", store="true",
               source="cancel-me").json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=mine).json()[
            "progress_seconds"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancel = httpx.delete(f"{server.url}/v1/jobs/{job['id']}", headers=mine)
    assert cancel.status_code == 200 and cancel.json()["cancel_requested"] is True
    state, _ = wait_job(server, mine, job["id"])
    assert state["status"] == "cancelled" and state["error"] == "cancelled by the client"
    assert state["result"] is None and state["progress_seconds"] < 3.0
    stored = httpx.get(f"{server.url}/v1/results", headers=mine,
                       params={"source": "cancel-me"}).json()
    assert stored["total"] == 0


def test_truncated_and_bad_videos(live, video):
    server, mine, _ = live
    before = leftover_uploads()
    cut = post(server, "/v1/analyze/video", mine, video[: len(video) // 2], "video/mp4",
               filename="cut.mp4")
    assert cut.status_code == 202, cut.text
    state, _ = wait_job(server, mine, cut.json()["id"])
    assert state["status"] == "done", state
    notes = state["result"]["notes"]
    assert any("decoding stopped" in n and "truncated" in n for n in notes), notes
    assert 0.5 < state["result"]["duration"] < state["total_seconds"] - 0.5
    text = post(server, "/v1/analyze/video", mine, b"not a video at all\n" * 100, "video/mp4",
                filename="notes.mp4")
    assert text.status_code == 422 and text.json()["detail"].startswith("notes.mp4: not a")
    sound = post(server, "/v1/analyze/video", mine, AUDIO.read_bytes(), "video/ogg")
    assert sound.status_code == 422 and "no video stream" in sound.json()["detail"]
    assert post(server, "/v1/analyze/video", mine, b"x", "image/png").status_code == 415
    assert httpx.get(f"{server.url}/v1/jobs/nope", headers=mine).status_code == 404
    time.sleep(0.2)
    assert leftover_uploads() == before


# -- live video ------------------------------------------------------------------------------


def stream(server, headers):
    return connect(f"{server.ws_url}/v1/stream/video", additional_headers=headers,
                   max_size=None)


def test_stream_answers_each_frame_with_stable_track_ids(live):
    server, mine, _ = live
    crowd = people()
    with stream(server, mine) as ws:
        start = json.loads(ws.recv(timeout=30))
        assert start["type"] == "start" and start["policy"].startswith("drop")
        assert start["max_frame_bytes"] == MAX_FRAME
        replies = []
        for k in range(5):  # paced: each frame waits for the previous reply
            ws.send(json.dumps({"t": k * 0.2, "id": f"f{k}"}))
            ws.send(jpeg(scene(crowd, "", x_shift=8 * k)))
            replies.append(json.loads(ws.recv(timeout=30)))
        ws.send(json.dumps({"end": True}))
        summary = json.loads(ws.recv(timeout=30))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd.code == 1000
    assert [r["seq"] for r in replies] == [1, 2, 3, 4, 5]
    assert [r["id"] for r in replies] == [f"f{k}" for k in range(5)]
    assert [r["t"] for r in replies] == [0, 0.2, 0.4, 0.6, 0.8]
    assert all(r["dropped"] == [] and (r["width"], r["height"]) == (640, 360) for r in replies)
    ids = []
    for r in replies:
        assert len(r["faces"]) == 2
        by_x = sorted(r["faces"], key=lambda f: f["details"]["box"][0])
        ids.append([f["details"]["track"] for f in by_x])
        assert all(f["modality"] == "face" and f["group"].startswith("person ") for f in by_x)
    assert sorted(ids[0]) == [1, 2] and ids == [ids[0]] * 5  # the same ids on every frame
    happy = [f for r in replies for f in r["faces"] if f["details"]["track"] == ids[0][0]]
    assert "joy" in top_two({k: np.mean([f["scores"][k] for f in happy]) for k in CANONICAL})
    assert summary == {"type": "summary", "frames": 5, "dropped": 0, "tracks": [
        {"track_id": n, "first_t": 0.0, "last_t": 0.8, "detections": 5, "ended": False}
        for n in (1, 2)]}


def sideways_jpeg(frame: np.ndarray) -> bytes:
    """``frame`` stored turned a quarter left with EXIF orientation 6 ("turn right to show"),
    as a phone camera writes a portrait shot."""
    buffer, exif = io.BytesIO(), Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(frame).transpose(Image.Transpose.ROTATE_90).save(
        buffer, format="JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def test_stream_turns_an_exif_rotated_jpeg_upright_as_image_uploads_do(live):
    server, mine, _ = live
    upright = scene(people(), "")
    with stream(server, mine) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "start"
        replies = []
        for k, data in enumerate((jpeg(upright), sideways_jpeg(upright))):
            ws.send(json.dumps({"t": k * 0.2}))
            ws.send(data)
            replies.append(json.loads(ws.recv(timeout=30)))
    straight, turned = replies
    assert (turned["width"], turned["height"]) == (straight["width"], straight["height"]) \
        == (upright.shape[1], upright.shape[0])
    assert len(turned["faces"]) == len(straight["faces"]) == 2
    boxes = [sorted(f["details"]["box"] for f in r["faces"]) for r in replies]
    assert np.allclose(boxes[0], boxes[1], atol=4)  # the same faces, in the same places
    uploaded = post(server, "/v1/analyze/image", mine, sideways_jpeg(upright), "image/jpeg")
    assert uploaded.status_code == 200, uploaded.text
    assert len(uploaded.json()["faces"]) == 2


def test_stream_drops_frames_sent_faster_than_analysed_and_says_which(live):
    server, mine, _ = live
    frame = jpeg(scene(people(), ""))
    with stream(server, mine) as ws:
        json.loads(ws.recv(timeout=30))
        for _ in range(12):  # at once: analysis takes far longer than sending
            ws.send(frame)
        ws.send(json.dumps({"end": True}))
        messages = [json.loads(ws.recv(timeout=60))]
        while messages[-1]["type"] != "summary":
            messages.append(json.loads(ws.recv(timeout=60)))
    replies, summary = messages[:-1], messages[-1]
    answered = [r["seq"] for r in replies]
    dropped = [s for r in replies for s in r["dropped"]]
    assert sorted(answered + dropped) == list(range(1, 13))  # every frame answered or named
    assert answered[-1] == 12 and len(dropped) >= 5  # the newest frame is always answered
    assert summary["frames"] == len(replies) and summary["dropped"] == len(dropped)


@pytest.mark.parametrize(
    ("send", "code", "reason"),
    [
        (b"GIF89a not a jpeg", 1003, "frame 1: not a JPEG"),
        (b"\xff\xd8\xff" + b"\0" * MAX_FRAME, 1009, "frame 1:"),
        ("hello", 1007, "must be JSON"),
        ('{"t": -1}', 1007, "t must be seconds"),
        ('{"fps": 5}', 1007, "unknown key 'fps'"),
        ("truncated", 1007, "frame 1: the JPEG cannot be decoded"),
        ("backwards", 1007, "frame 2: t=0.5 is before"),
    ],
)
def test_stream_closes_with_a_code_and_reason_on_bad_input(live, send, code, reason):
    server, mine, _ = live
    good = jpeg(scene(people(), ""))
    with stream(server, mine) as ws, pytest.raises(ConnectionClosed) as closed:
        assert json.loads(ws.recv(timeout=30))["type"] == "start"
        if send == "truncated":
            ws.send(good[: len(good) // 3])
        elif send == "backwards":
            for t in (1.0, 0.5):
                ws.send(json.dumps({"t": t}))
                ws.send(good)
        else:
            ws.send(send)
        while True:
            ws.recv(timeout=30)
    assert closed.value.rcvd.code == code
    assert reason in closed.value.rcvd.reason


def test_stream_needs_a_key_and_a_free_slot(live):
    server, mine, _ = live
    with connect(f"{server.ws_url}/v1/stream/video") as ws, pytest.raises(ConnectionClosed) as c:
        ws.recv(timeout=30)
    assert c.value.rcvd.code == 4401
    with stream(server, mine) as first:
        assert json.loads(first.recv(timeout=30))["type"] == "start"
        with stream(server, mine) as second, pytest.raises(ConnectionClosed) as busy:
            second.recv(timeout=30)
        assert busy.value.rcvd.code == 1013 and "try again later" in busy.value.rcvd.reason


def test_ready_and_models_say_vision_is_loaded(live):
    server, mine, _ = live
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["vision"].startswith("video[face=")
    assert ready["speech"] is None and ready["models"][-1] == ready["vision"]
    assert set(ready["jobs"]) == {"queued", "running"}
    assert httpx.get(f"{server.url}/v1/models", headers=mine).json()["vision"] == ready["vision"]


# -- vision off; speech and vision together, and shutdown -----------------------------------


def test_without_vision_the_routes_say_how_to_turn_it_on(tmp_path):
    app = create_app(ServerSettings(db=str(tmp_path / "e.db"), auth=False))
    with TestClient(app) as client:
        for path in ("/v1/analyze/image", "/v1/analyze/video"):
            r = client.post(path, content=b"x", headers={"Content-Type": "image/png"})
            assert r.status_code == 404 and "--vision" in r.json()["detail"]
        with client.websocket_connect("/v1/stream/video") as ws:
            closed = ws.receive()
        assert closed["code"] == 4404 and "--vision" in closed["reason"]
        paths = client.get("/openapi.json").json()["paths"]
        assert "/v1/analyze/image" not in paths and "/v1/jobs/{job_id}" in paths
        ready = client.get("/readyz").json()
        assert ready["vision"] is None and ready["speech"] is None


def test_audio_jobs_and_a_shutdown_that_finishes_the_running_job(tmp_path):
    db = str(tmp_path / "both.db")
    ((caller, mine),) = keys(db, 1)
    clip = make_video(tmp_path / "quiet.mp4", speech=False).read_bytes()  # one Whisper run
    app = create_app(ServerSettings(db=db, vision=True, audio=True, rate_limit=0,
                                    job_grace_seconds=25))  # LiveServer waits 30 s to stop
    with LiveServer(app) as server:
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["speech"].startswith("speech[") and "voice=" in ready["vision"]
        r = post(server, "/v1/analyze/audio", mine, AUDIO.read_bytes(), "audio/ogg",
                 job="true", store="true", source="call-7")
        assert r.status_code == 202, r.text
        state, seen = wait_job(server, mine, r.json()["id"])
        assert state["status"] == "done" and state["kind"] == "audio", state
        assert state["total_seconds"] and state["progress_seconds"] == pytest.approx(
            state["total_seconds"], abs=0.1)
        assert "flight" in " ".join(s["text"] for s in state["result"]["segments"]).lower()
        bad = post(server, "/v1/analyze/audio", mine, b"not audio" * 50, "audio/mpeg",
                   job="true", filename="x.mp3")
        assert bad.status_code == 422 and bad.json()["detail"].startswith("x.mp3: ")

        running = post(server, "/v1/analyze/video", mine, clip, "video/mp4", store="true",
                       source="talk").json()
        queued = post(server, "/v1/analyze/video", mine, clip, "video/mp4", store="true",
                      source="talk-2").json()
        while httpx.get(f"{server.url}/v1/jobs/{running['id']}",
                        headers=mine).json()["status"] == "queued":
            time.sleep(0.05)
    # The server has stopped: the running job finished and was stored; the queued one is
    # marked cancelled, not left queued.
    jobs = app.state.service.jobs
    done, dropped = jobs.get(running["id"], caller), jobs.get(queued["id"], caller)
    assert done.status == "done", done.error
    assert done.result.speech == [] and done.result.notes == []  # its track went to speech
    assert dropped.status == "cancelled" and "shut down" in dropped.error
    with ResultStore(db) as store:
        frame = store.to_frame(source="talk")
        assert {"face", "screen_text", "fused"} <= set(frame["modality"])
        assert store.to_frame(source="talk-2").empty
