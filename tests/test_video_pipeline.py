"""Images and a generated video with faces, a caption and an audio track, end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("rapidocr", reason="needs the video extra")
pytest.importorskip("faster_whisper", reason="needs the audio extra")

from clips import write_clip  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from emolens.vision.expression import FACE_DIR  # noqa: E402

FER = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "test"
FIXTURES = Path(__file__).parent / "fixtures" / "audio"

pytestmark = [
    pytest.mark.skipif(not (FACE_DIR / "emolens-model.json").is_file(),
                       reason="no face-expression model shipped yet (recipes/fer is training)"),
    pytest.mark.skipif(not FER.is_dir(), reason=f"FER2013 test crops not found at {FER}"),
]


def faces(label: str, n: int) -> list[np.ndarray]:
    files = sorted((FER / label).glob("PrivateTest_*.jpg"))[:n]
    return [np.asarray(Image.open(f).convert("RGB").resize((120, 120))) for f in files]


def scene(face_list: list[np.ndarray], caption: str, x_shift: int = 0) -> np.ndarray:
    frame = Image.new("RGB", (640, 360), (70, 90, 110))
    for i, face in enumerate(face_list):
        frame.paste(Image.fromarray(face), (60 + 260 * i + x_shift, 60))
    if caption:
        import matplotlib

        font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        draw = ImageDraw.Draw(frame)
        draw.rectangle((0, 290, 640, 345), fill=(20, 20, 20))
        draw.text((40, 298), caption, fill=(255, 255, 255), font=ImageFont.truetype(str(font), 30))
    return np.asarray(frame)


@pytest.fixture(scope="module")
def analyzer():
    from emolens.audio.pipeline import SpeechAnalyzer
    from emolens.vision.pipeline import VisualAnalyzer

    return VisualAnalyzer(speech=SpeechAnalyzer(), fps=5.0)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s: two faces drifting right, a caption from 1 s to 4 s, the flight complaint spoken."""
    from emolens.audio.decode import load_audio

    path = tmp_path_factory.mktemp("video") / "ad-test.mp4"
    people = [faces("happy", 1)[0], faces("surprise", 1)[0]]
    speech = np.concatenate([np.zeros(8000, np.float32), load_audio(FIXTURES / "en_flight.ogg")])
    speech = np.pad(speech, (0, max(0, 16000 * 6 - speech.size)))[: 16000 * 6]
    frames = (scene(people, "What a wonderful surprise, thank you!" if 10 <= k < 40 else "",
                    x_shift=k) for k in range(60))
    return write_clip(path, frames, 10, speech)


def test_video_timeline(analyzer, video: Path) -> None:
    timeline = analyzer.analyze_video(video)
    assert timeline.duration == pytest.approx(6.0, abs=0.3)
    tracks = {r.details["track"] for r in timeline.faces}
    assert len(tracks) == 2  # two people, each with one stable id across 30 samples
    assert len(timeline.faces) >= 50
    assert [p.detections for p in timeline.people] and all(
        p.detections >= 25 for p in timeline.people)
    assert any("wonderful surprise" in (c.text or "").lower() for c in timeline.captions)
    caption = timeline.captions[0]
    assert 0.8 <= caption.t_start <= 1.4 and 3.4 <= caption.t_end <= 4.6
    assert any("flight" in (s.text or "").lower() for s in timeline.speech)
    windows = timeline.fused
    assert len(windows) >= 5
    assert {"face", "screen_text"} <= set(windows[2].details["modalities"])
    assert any("voice" in w.details["modalities"] for w in windows)
    for r in timeline.results():
        assert r.source_id == str(video) and r.item_key
        assert sum(r.scores.values()) == pytest.approx(1.0)


def test_image_faces_left_to_right_and_text(analyzer, tmp_path: Path) -> None:
    path = tmp_path / "poster.png"
    Image.fromarray(scene(faces("happy", 2), "Best day ever")).save(path)
    timeline = analyzer.analyze_image(path)
    assert [r.group for r in timeline.faces] == ["face 1", "face 2"]
    assert timeline.faces[0].details["box"][0] < timeline.faces[1].details["box"][0]
    assert any("best day" in (c.text or "").lower() for c in timeline.captions)
    assert len(timeline.fused) == 1 and timeline.fused[0].t_start is None


def test_image_without_faces(analyzer, tmp_path: Path) -> None:
    path = tmp_path / "blank.jpg"
    Image.new("RGB", (320, 240), (200, 200, 200)).save(path)
    timeline = analyzer.analyze_image(path)
    assert timeline.faces == [] and "no faces found" in timeline.notes


@pytest.mark.usefixtures("isolated_settings")
def test_minimum_face_size_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import emolens

    image = scene([faces("happy", 1)[0]], "")  # one face, boxed at about 100 x 118 px
    emolens.load_vision.cache_clear()
    try:
        assert emolens.load_vision(audio=False, ocr=False).detector.min_size == 16
        assert len(emolens.load_vision(audio=False, ocr=False).faces_in(image)[0]) == 1
        monkeypatch.setenv("EMOLENS_FACE_MIN_SIZE", "150")
        emolens.load_vision.cache_clear()
        analyzer = emolens.load_vision(audio=False, ocr=False)
        assert analyzer.detector.min_size == 150
        assert analyzer.faces_in(image)[0] == []
    finally:  # later tests must not get the 150-px analyzer from the cache
        emolens.load_vision.cache_clear()


@pytest.mark.usefixtures("isolated_settings")
def test_cli_stores_images_and_videos_and_names_bad_files(video: Path, tmp_path: Path) -> None:
    import json
    import sqlite3

    from typer.testing import CliRunner

    from emolens.cli import app

    folder = tmp_path / "shots"
    folder.mkdir()
    Image.fromarray(scene(faces("happy", 2), "")).save(folder / "team.jpg")
    (folder / "notes.png").write_text("meeting notes, not an image\n" * 5)
    db = tmp_path / "media.db"
    runner = CliRunner()
    images = runner.invoke(app, ["analyze", "image", str(folder), "--db", str(db), "--json",
                                 "--annotate", str(tmp_path / "pictures")])
    assert images.exit_code == 3, images.output  # partial: one bad file
    lines = [json.loads(x) for x in images.stdout.splitlines()]
    files = {Path(x["path"]).name: x for x in lines if x.get("type") == "file"}
    assert files["team.jpg"]["stored"] >= 3  # two faces and the fused result
    assert "notes.png" in files["notes.png"]["error"]
    drawn = [x["picture"] for x in lines if x.get("type") == "annotated"]
    assert drawn == [str(tmp_path / "pictures" / "team.annotated.png")]  # not the bad file
    assert Image.open(drawn[0]).size[0] == 640

    sheets = tmp_path / "sheets"
    clip = runner.invoke(app, ["analyze", "video", str(video), "--db", str(db), "--no-audio",
                               "--keyframes", str(sheets)])
    assert clip.exit_code == 0, clip.output
    assert (sheets / "ad-test.keyframes.png").is_file()
    assert f"wrote {sheets / 'ad-test.keyframes.png'}" in clip.stdout
    with sqlite3.connect(db) as conn:
        kinds = dict(conn.execute(
            "select modality, count(*) from results where source = ? group by modality",
            (str(video),)).fetchall())
    assert kinds["face"] >= 50 and kinds["fused"] >= 5 and kinds.get("screen_text", 0) >= 1
    again = runner.invoke(app, ["analyze", "video", str(video), "--db", str(db), "--no-audio",
                                "--json"])
    stored = [json.loads(x) for x in again.stdout.splitlines() if '"type": "file"' in x]
    assert stored[0]["stored"] == 0  # the same results are not stored twice

    # A sheet that cannot be written (its folder is a file) is a warning, not a failure.
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    clip = runner.invoke(app, ["analyze", "video", str(video), "--db", str(db), "--no-audio",
                               "--keyframes", str(blocked)])
    assert clip.exit_code == 0, clip.output
    assert "ad-test.keyframes.png not drawn" in clip.stderr
