"""The dashboard's live mode in headless Chromium on a real --audio --vision server: Chromium's
fake capture devices play a .y4m of FER2013 faces as the camera and a .wav of the flight
complaint as the microphone, through getUserMedia as a real device would; the page streams
them over /v1/stream/video and /v1/stream/audio and shows boxed faces and the transcript.

The fake microphone loops its file, so the speech comes round again however late the page
starts listening (played once, it was missed when the page started late on a busy machine);
every wait is bounded and a time out says what the page showed. Skipped without Chromium (see
test_dashboard.py), the speech or video extras, the shipped face-expression model or the
FER2013 crops.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")
pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install 'emolens[test]'")
pytest.importorskip("av", reason="needs the video extra: pip install 'emolens[video]'")
pytest.importorskip("rapidocr", reason="needs the video extra: pip install 'emolens[video]'")
pytest.importorskip("faster_whisper", reason="needs the audio extra")
sf = pytest.importorskip("soundfile", reason="needs the audio extra")

from live_server import LiveServer  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402
from test_dashboard import browser, chromium  # noqa: E402, F401  (browser: a fixture)
from test_server_vision import people, pytestmark  # noqa: E402, F401  (skips without data)
from test_video_pipeline import scene  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from emolens.audio.decode import load_audio  # noqa: E402
from emolens.labels import CANONICAL  # noqa: E402
from emolens.server import ServerSettings, create_app  # noqa: E402

SPEECH = Path(__file__).parent / "fixtures" / "audio" / "en_flight.ogg"
RATE = 16_000
FACE = re.compile(r"^person (\d+): (\w+) (\d+)%$")


def rgb_to_i420(rgb: np.ndarray) -> bytes:
    """One frame as planar YUV 4:2:0 (BT.601, full range), as a .y4m holds it."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    h, w = y.shape

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = (y, half(u), half(v))
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def make_y4m(path: Path, frames: int = 20, fps: int = 10) -> Path:
    """Two FER2013 faces (happy, surprised) drifting right on a plain scene, 640x360."""
    crowd = people()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W640 H360 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(frames):
            out.write(b"FRAME\n" + rgb_to_i420(scene(crowd, "", x_shift=2 * k)))
    return path


def make_wav(path: Path) -> Path:
    """The flight complaint between 1 s and 2 s of silence, 16-bit mono at 16 kHz: an 8.7 s
    loop for the fake microphone (a server that cannot keep up skips audio rather than piling
    it up: ws.py)."""
    speech = load_audio(SPEECH)
    audio = np.concatenate([np.zeros(RATE, np.float32), speech, np.zeros(2 * RATE, np.float32)])
    sf.write(path, audio, RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`emolens serve --audio --vision` on loopback, auth off, one live video stream."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("EMOLENS_")]:
            mp.delenv(name)
        folder = tmp_path_factory.mktemp("live")
        mp.setenv("EMOLENS_CONFIG", "")
        settings = ServerSettings(db=str(folder / "live.db"), auth=False, audio=True,
                                  vision=True, rate_limit=0, video_streams=1)
        with LiveServer(create_app(settings)) as live:
            yield live


def status(driver, which: str) -> str:
    return driver.find_element(By.ID, f"{which}-status").text


def texts(driver, selector: str, attribute: str = "textContent") -> list[str]:
    """Read in one script: the page redraws these elements several times a second."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e[arguments[1]]);",
        selector, attribute)


def face_labels(driver) -> list[str]:
    return texts(driver, "#cam-overlay .live-box")


def transcripts(driver) -> str:
    return " ".join(texts(driver, "#utterances li"))


def shown(driver) -> str:
    """What the live panel shows, for a failure message."""
    try:
        said = texts(driver, "#utterances li")
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        return (f"mic status {status(driver, 'mic')!r}; cam status {status(driver, 'cam')!r}; "
                f"{len(said)} utterances {said[:3]}; face labels {face_labels(driver)[:4]}; "
                f"browser errors {errors[:3]}")
    except Exception as exc:  # noqa: BLE001  (the browser itself is stuck: say so)
        return f"(the page could not be read: {type(exc).__name__}: {exc})"


def until(driver, what: str, condition, seconds: float):
    """condition(driver) once it is true; else fail after ``seconds`` naming what was awaited
    and what the page showed."""
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.25).until(condition)
    except TimeoutException:
        pytest.fail(f"{what}: not within {seconds:g} s; {shown(driver)}", pytrace=False)


def test_camera_and_microphone_stream_and_show_faces_and_what_was_said(server, tmp_path):
    video, audio = make_y4m(tmp_path / "faces.y4m"), make_wav(tmp_path / "speech.wav")
    driver = chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-video-capture={video}",
                      f"--use-file-for-fake-audio-capture={audio}",  # looped
                      "--autoplay-policy=no-user-gesture-required")
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(30)
        driver.get(server.url + "/")
        until(driver, "/readyz says speech and vision are served", lambda d: d.execute_script(
            "return live.served.speech && live.served.vision"), 60)
        driver.execute_script("document.getElementById('live').scrollIntoView()")
        Select(driver.find_element(By.ID, "mic-lang")).select_by_value("en")
        # The microphone first, the camera once it streams: the camera's frames take most of
        # the CPU, and speech the page misses while starting comes round again in the loop.
        driver.find_element(By.ID, "mic-start").click()
        until(driver, "the microphone streaming (status 'listening:')",
              lambda d: status(d, "mic").startswith("listening:"), 60)
        driver.find_element(By.ID, "cam-start").click()

        until(driver, "a boxed face labelled 'person N: label NN%'",
              lambda d: any(FACE.match(x) for x in face_labels(d)), 120)
        until(driver, "'flight' in the transcript (the fake microphone loops the flight "
              "complaint every 8.7 s)", lambda d: "flight" in transcripts(d).lower(), 180)
        faces = [FACE.match(x) for x in face_labels(driver)]
        assert all(m and m[2] in CANONICAL for m in faces), faces
        assert texts(driver, "#cam-people .person-strip")
        assert texts(driver, "#utterances li", "className") == ["utterance"] * len(
            texts(driver, "#utterances li"))
        label = driver.execute_script("return document.querySelector('#utterances li')"
                                      ".dataset.label")
        assert label in CANONICAL
        assert re.search(r"\d+\.\d–\d+\.\d s", texts(driver, "#utterances li")[0])
        assert status(driver, "cam").startswith("watching:")
        assert status(driver, "mic").startswith("listening:")
        assert "not what anyone feels inside" in driver.find_element(By.ID, "live").text
        shot = tmp_path / "dashboard-live.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000

        driver.find_element(By.ID, "lang-toggle").click()
        title = "实时：麦克风与摄像头"
        until(driver, "the live panel in Chinese",
              lambda d: d.find_element(By.CSS_SELECTOR, "#live h2").text == title, 30)
        until(driver, "a face labelled in Chinese ('第 N 人')",
              lambda d: any(x.startswith("第 ") for x in face_labels(d)), 60)
        driver.find_element(By.ID, "lang-toggle").click()

        # The camera first: its frames would hold the CPU the speech needs to finish the audio
        # it was sent (the page waits up to 120 s for that).
        driver.find_element(By.ID, "cam-stop").click()
        until(driver, "the camera stopped (status 'stopped:')",
              lambda d: status(d, "cam").startswith("stopped:"), 60)
        assert face_labels(driver) == []
        driver.find_element(By.ID, "mic-stop").click()
        until(driver, "the microphone stopped (status 'stopped:')",
              lambda d: status(d, "mic").startswith("stopped:"), 150)

        # The one video slot is taken: the page says the server is busy, in both languages.
        with connect(f"{server.ws_url}/v1/stream/video") as holder:
            assert json.loads(holder.recv(timeout=30))["type"] == "start"
            driver.find_element(By.ID, "cam-start").click()
            until(driver, "the camera refused with code 1013",
                  lambda d: "code 1013" in status(d, "cam"), 30)
            assert "busy" in status(driver, "cam") and "try again later" in status(driver, "cam")
            driver.find_element(By.ID, "lang-toggle").click()
            until(driver, "the busy close explained in Chinese",
                  lambda d: "服务器繁忙" in status(d, "cam"), 30)
            driver.find_element(By.ID, "lang-toggle").click()
        assert not driver.find_element(By.ID, "cam-start").get_attribute("disabled")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()


def test_a_refused_permission_is_explained(server):
    driver = chromium("--use-fake-device-for-media-stream", "--deny-permission-prompts")
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(server.url + "/")
        wait.until(lambda d: d.execute_script("return live.served.speech && live.served.vision"))
        driver.find_element(By.ID, "mic-start").click()
        wait.until(lambda d: "refused the microphone" in status(d, "mic"))
        driver.find_element(By.ID, "lang-toggle").click()
        wait.until(lambda d: "浏览器拒绝了麦克风权限" in status(d, "mic"))
        driver.find_element(By.ID, "lang-toggle").click()
        assert not driver.find_element(By.ID, "mic-start").get_attribute("disabled")
    finally:
        driver.quit()


@pytest.mark.usefixtures("isolated_settings")
def test_without_audio_and_vision_the_live_view_says_how_to_turn_them_on(browser, tmp_path):  # noqa: F811
    with LiveServer(create_app(ServerSettings(db=str(tmp_path / "t.db"), auth=False))) as srv:
        browser.get(srv.url + "/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: "--audio" in status(d, "mic"))
        assert "--vision" in status(browser, "cam")
        browser.find_element(By.ID, "cam-start").click()  # still says so, asks for nothing
        assert "emolens serve --vision" in status(browser, "cam")
