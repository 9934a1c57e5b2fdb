"""The dashboard's image and video panel in headless Chromium, on a real --vision server:
upload an image and see its faces boxed and scored, upload a video and see its job end in a
timeline. Skipped without Chromium (see test_dashboard.py) or the face-expression model."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")
pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install 'emolens[test]'")
pytest.importorskip("av", reason="needs the video extra: pip install 'emolens[video]'")
pytest.importorskip("rapidocr", reason="needs the video extra: pip install 'emolens[video]'")
pytest.importorskip("faster_whisper", reason="needs the audio extra")

from live_server import LiveServer  # noqa: E402
from PIL import Image  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from test_dashboard import browser  # noqa: E402, F401  (the headless Chromium fixture)
from test_server_vision import make_video, people, pytestmark  # noqa: E402, F401
from test_video_pipeline import scene  # noqa: E402

from emolens.server import ServerSettings, create_app  # noqa: E402


def rows(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#faces-table tbody tr")


@pytest.mark.usefixtures("isolated_settings")
def test_upload_an_image_then_a_video_and_see_faces_and_the_timeline(browser, tmp_path):  # noqa: F811
    picture = tmp_path / "poster.png"
    Image.fromarray(scene(people(), "Best day ever")).save(picture)
    clip = make_video(tmp_path / "clip.mp4", speech=False)
    wait = WebDriverWait(browser, 90)
    settings = ServerSettings(db=str(tmp_path / "d.db"), auth=False, vision=True, rate_limit=0,
                              video_fps=4)
    with LiveServer(create_app(settings)) as server:
        browser.get(server.url + "/")
        wait.until(lambda d: d.find_element(By.ID, "media").is_displayed())

        browser.find_element(By.ID, "media-file").send_keys(str(picture))
        browser.find_element(By.ID, "media-btn").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".face-box")) == 2)
        assert len(rows(browser)) == 2
        assert "best day" in browser.find_element(By.ID, "captions-list").text.lower()
        assert browser.find_element(By.ID, "media-status").text.startswith("2 faces")
        assert not browser.find_element(By.ID, "chart-timeline").is_displayed()

        browser.find_element(By.ID, "media-file").send_keys(str(clip))
        browser.find_element(By.ID, "media-btn").click()
        wait.until(lambda d: d.execute_script(
            "const gd = document.getElementById('chart-timeline');"
            "return !gd.hidden && gd.data ? gd.data.length : 0;") == 7)
        assert not browser.find_element(By.ID, "media-picture").is_displayed()
        assert [r.text.split("\n")[0].split()[:2] for r in rows(browser)] == [
            ["person", "1"], ["person", "2"]]
        assert "wonderful" in browser.find_element(By.ID, "captions-list").text.lower()
        assert "2 people" in browser.find_element(By.ID, "media-status").text

        browser.find_element(By.ID, "lang-toggle").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#media h2").text == "分析图片或视频")
        assert rows(browser)[0].text.startswith("第 1 人")
        shot = tmp_path / "dashboard-media.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
