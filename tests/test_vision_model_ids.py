"""Video and image model ids name every setting that changes the stored results; a bad
language is refused before any frame is read; sideways phone videos are analysed upright."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("rapidocr", reason="needs the video extra")
pytest.importorskip("faster_whisper", reason="needs the audio extra")

from clips import write_clip  # noqa: E402
from PIL import Image  # noqa: E402

from emolens.errors import InvalidInputError  # noqa: E402
from emolens.vision.expression import FACE_DIR  # noqa: E402

FER = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "test"

pytestmark = [
    pytest.mark.skipif(not (FACE_DIR / "emolens-model.json").is_file(),
                       reason="no face-expression model shipped"),
    pytest.mark.skipif(not FER.is_dir(), reason=f"FER2013 test crops not found at {FER}"),
]


def scene() -> np.ndarray:
    """320 x 240, one happy FER face (120 px) left of centre."""
    face = Image.open(sorted((FER / "happy").glob("PrivateTest_*.jpg"))[0]).convert("RGB")
    frame = Image.new("RGB", (320, 240), (70, 90, 110))
    frame.paste(face.resize((120, 120)), (60, 60))
    return np.asarray(frame)


def write_video(path: Path, image: np.ndarray, seconds: int = 2, rate: int = 5) -> Path:
    return write_clip(path, [image] * (seconds * rate), rate)


@pytest.fixture(scope="module")
def speech():
    from emolens.audio.pipeline import SpeechAnalyzer

    return SpeechAnalyzer()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("clip") / "face.mp4", scene())


def visual(**options):
    from emolens.vision.pipeline import VisualAnalyzer

    return VisualAnalyzer(fps=2.0, **options)


def test_the_video_id_names_the_voice_model(speech, tmp_path: Path) -> None:
    from emolens.audio.pipeline import SpeechAnalyzer
    from emolens.audio.voice import VOICE_DIR

    mine = tmp_path / "my-voice"  # the shipped voice model saved under another name
    shutil.copytree(VOICE_DIR, mine)
    meta = json.loads((mine / "emolens-model.json").read_text())
    meta.update(name="my-voice", version="0.2.0")
    (mine / "emolens-model.json").write_text(json.dumps(meta))
    other = SpeechAnalyzer(voice_model=str(mine), text_analyzer=speech.text)

    shipped = visual(speech=speech, ocr_interval=None).model_id
    assert f"voice={speech.voice.name}@{speech.voice.version}" in shipped
    assert f"asr={speech.transcriber.name}" in shipped
    swapped = visual(speech=other, ocr_interval=None).model_id
    assert "voice=my-voice@0.2.0" in swapped and swapped != shipped


def test_ocr_and_sampling_are_part_of_the_video_id(clip: Path, tmp_path: Path) -> None:
    from emolens.store import ResultStore

    plain, reading = visual(ocr_interval=None), visual(ocr_interval=1.0)
    assert plain.model_id.startswith("video[face=") and "ocr=off" in plain.model_id
    assert "ocr=PP-OCRv6-small/1s" in reading.model_id and "audio=off" in reading.model_id
    assert "fps=2" in plain.model_id and "window=1s" in plain.model_id
    assert visual(ocr_interval=None, window=2.0).model_id != plain.model_id

    with ResultStore(str(tmp_path / "results.db")) as store:
        first = plain.analyze_video(clip)
        assert first.faces and first.fused and first.model == plain.model_id
        assert store.add(first.results()) == len(first.results())
        assert store.add(plain.analyze_video(clip).results()) == 0  # same settings: stored
        # OCR turned on: faces and fused windows are stored again under the new id, not
        # skipped as "already stored" beside a new screen-text row.
        second = reading.analyze_video(clip)
        assert store.add(second.results()) == len(second.results())
        frame = store.to_frame(source=str(clip), model=reading.model_id)
    assert {"face", "fused"} <= set(frame["modality"])


def test_images_are_stored_under_an_image_id(tmp_path: Path) -> None:
    from emolens.store import ResultStore

    path = tmp_path / "portrait.png"
    Image.fromarray(scene()).save(path)
    analyzer = visual(ocr_interval=1.0)
    timeline = analyzer.analyze_image(path)
    image_id = analyzer.image_model_id
    assert image_id.startswith("image[face=") and "ocr=PP-OCRv6-small" in image_id
    assert "audio" not in image_id and "fps" not in image_id  # images have neither
    assert timeline.model == image_id
    assert {r.model for r in timeline.results()} == {image_id}
    with ResultStore(str(tmp_path / "results.db")) as store:
        assert store.add(timeline.results()) == len(timeline.results()) >= 2
        assert store.add(analyzer.analyze_image(path).results()) == 0  # one configuration
        assert visual(ocr_interval=None).image_model_id != image_id


def test_a_bad_language_is_refused_before_any_frame(speech, clip: Path) -> None:
    analyzer = visual(speech=speech, ocr_interval=None)
    sampled: list[float] = []
    with pytest.raises(InvalidInputError, match=r"language must be one of .*'fr'"):
        analyzer.analyze_video(clip, language="fr", progress=sampled.append)
    assert sampled == []  # no frame was read


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg writes the rotated video")
def test_a_sideways_phone_video_has_its_face_found(tmp_path: Path) -> None:
    upright = scene()
    stored = write_video(tmp_path / "stored.mp4", np.ascontiguousarray(np.rot90(upright)))
    phone = tmp_path / "phone.mp4"  # rotate=270: shown turned a quarter clockwise, upright
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(stored), "-c", "copy",
                    "-metadata:s:v:0", "rotate=270", str(phone)], check=True)
    with av.open(str(phone)) as container:
        if getattr(next(container.decode(video=0)), "rotation", -90) != -90:
            pytest.skip("this ffmpeg wrote no display rotation from the rotate tag")
    faces = visual(ocr_interval=None).analyze_video(phone).faces
    assert faces
    for face in faces:  # boxed where scene() pasted it, in the upright 320 x 240 frame
        x0, y0, x1, y1 = face.details["box"]
        assert 60 < (x0 + x1) / 2 < 180 and 60 < (y0 + y1) / 2 < 180
