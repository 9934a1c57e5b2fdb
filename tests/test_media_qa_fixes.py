"""QA fixes for the media commands: content fingerprints, sources and keys per file, media
duration, a modality column, transparent images, undecodable audio tracks, language choice,
truncated files, empty folders and models of the wrong kind. Real small media throughout."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("faster_whisper", reason="needs the audio extra")

from clips import write_clip  # noqa: E402
from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from emolens.cli import app  # noqa: E402
from emolens.io.fingerprint import file_fingerprint  # noqa: E402
from emolens.io.results import ResultWriter, result_columns  # noqa: E402
from emolens.types import EmotionResult  # noqa: E402
from emolens.vision.expression import FACE_DIR  # noqa: E402
from emolens.vision.frames import load_image  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "audio"
FER = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "test"
needs_faces = pytest.mark.skipif(
    not (FER.is_dir() and (FACE_DIR / "emolens-model.json").is_file()),
    reason="needs the FER2013 test crops and the face-expression model")


def face_picture(label: str = "happy") -> np.ndarray:
    crop = sorted((FER / label).glob("PrivateTest_*.jpg"))[0]
    canvas = Image.new("RGB", (320, 240), (200, 200, 200))
    canvas.paste(Image.open(crop).convert("RGB").resize((140, 140)), (90, 50))
    return np.asarray(canvas)


# -- 1. the fingerprint reads the whole file ---------------------------------------------------

def test_an_edit_in_the_middle_of_a_large_file_changes_its_fingerprint(tmp_path: Path) -> None:
    data = bytearray(np.random.default_rng(0).integers(0, 256, 3 << 20, np.uint8).tobytes())
    original = tmp_path / "a.wav"
    original.write_bytes(bytes(data))
    data[(3 << 20) // 2] ^= 0xFF  # one byte, same size, far from either end
    edited = tmp_path / "b.wav"
    edited.write_bytes(bytes(data))
    assert file_fingerprint(original) != file_fingerprint(edited)
    copy = tmp_path / "c.wav"
    copy.write_bytes(original.read_bytes())
    assert file_fingerprint(copy) == file_fingerprint(original)
    assert len(file_fingerprint(copy)) == 16


# -- 2, 3. absolute sources, one set of results per source -------------------------------------

@needs_faces
def test_images_are_stored_by_absolute_path_and_each_copy_for_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        Image.fromarray(face_picture()).save(tmp_path / folder / "face.jpg")
    runner = CliRunner()
    args = ["analyze", "image", "one/face.jpg", "two/face.jpg", "--no-ocr", "--db", "m.db",
            "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    files = [json.loads(x) for x in first.stdout.splitlines() if '"type": "file"' in x]
    assert [f["stored"] > 0 for f in files] == [True, True]  # the copy too
    with sqlite3.connect(tmp_path / "m.db") as conn:
        sources = {s for (s,) in conn.execute("select distinct source from results")}
    assert sources == {str(tmp_path / "one" / "face.jpg"), str(tmp_path / "two" / "face.jpg")}
    again = runner.invoke(app, args)
    files = [json.loads(x) for x in again.stdout.splitlines() if '"type": "file"' in x]
    assert [f["stored"] for f in files] == [0, 0]  # a re-run stays idempotent
    purged = runner.invoke(app, ["purge", "--db", "m.db", "--source", "one/face.jpg", "--yes"])
    assert purged.exit_code == 0, purged.output
    with sqlite3.connect(tmp_path / "m.db") as conn:
        left = {s for (s,) in conn.execute("select distinct source from results")}
    assert left == {str(tmp_path / "two" / "face.jpg")}


def test_an_audio_copy_is_stored_for_its_own_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.ogg").write_bytes((FIXTURES / "en_flight.ogg").read_bytes())
    (tmp_path / "b.ogg").write_bytes((FIXTURES / "en_flight.ogg").read_bytes())
    runner = CliRunner()
    done = runner.invoke(app, ["analyze", "audio", "a.ogg", "b.ogg", "--db", "a.db", "--json",
                               "--language", "en"])
    assert done.exit_code == 0, done.output
    files = [json.loads(x) for x in done.stdout.splitlines() if '"type": "file"' in x]
    assert all(f["stored"] >= 1 for f in files), files
    with sqlite3.connect(tmp_path / "a.db") as conn:
        rows = conn.execute("select source, item_key from results").fetchall()
    assert {s for s, _ in rows} == {str(tmp_path / "a.ogg"), str(tmp_path / "b.ogg")}
    again = runner.invoke(app, ["analyze", "audio", "a.ogg", "--db", "a.db", "--json"])
    file = [json.loads(x) for x in again.stdout.splitlines() if '"type": "file"' in x][0]
    assert file["stored"] == 0 and file["skipped_existing"] >= 1


# -- 4. duration from the streams, spans clipped ----------------------------------------------

@needs_faces
def test_video_duration_and_spans_stop_at_the_end_of_the_media(tmp_path: Path) -> None:
    from emolens.vision.pipeline import VisualAnalyzer

    clip = write_clip(tmp_path / "short.mp4", [face_picture()] * 5, 2)  # 2.5 s
    timeline = VisualAnalyzer(fps=0.3, ocr_interval=None).analyze_video(clip)
    assert timeline.duration == pytest.approx(2.5, abs=0.01)  # not 1/0.3 s
    ends = [r.t_end for r in timeline.results()]
    assert ends and max(ends) <= timeline.duration + 1e-6


def test_a_short_video_with_long_audio_lasts_as_long_as_its_audio(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr", reason="needs the video extra")
    from emolens.audio.pipeline import SpeechAnalyzer
    from emolens.vision.pipeline import VisualAnalyzer

    tone = 0.2 * np.sin(2 * np.pi * 220 * np.arange(16000 * 4) / 16000).astype(np.float32)
    clip = write_clip(tmp_path / "a.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 5, 5, tone)
    timeline = VisualAnalyzer(fps=5, ocr_interval=None,
                              speech=SpeechAnalyzer()).analyze_video(clip)
    assert 3.9 <= timeline.duration <= 4.2  # the video alone is 1 s


# -- 5. a modality column ------------------------------------------------------------------------

def test_outputs_have_a_modality_column_text_included(tmp_path: Path) -> None:
    assert "modality" in result_columns(["joy"])
    text = EmotionResult(label="joy", scores={"joy": 1.0}, text="yay", item_key="k")
    face = EmotionResult(label="joy", scores={"joy": 1.0}, modality="face", item_key="f",
                         t_start=0.0, t_end=0.2)
    with ResultWriter(tmp_path / "out.jsonl", ["joy"]) as writer:
        writer.write([text, face])
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["modality"] for r in rows] == ["text", "face"]


# -- 6. transparency over white ----------------------------------------------------------------

@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_pixels_are_white_not_what_lies_under_them(tmp_path: Path, mode: str) -> None:
    hidden = Image.new("RGBA", (40, 30), (0, 0, 0, 0))  # black under alpha 0
    hidden.paste((0, 0, 0, 255), (0, 0, 10, 10))  # one opaque black corner
    picture = hidden.convert(mode) if mode != "P" else hidden.convert("P")
    if mode == "P":  # a palette image with a transparent colour
        picture = Image.new("P", (40, 30), 0)
        picture.putpalette([0, 0, 0, 255, 0, 0])
        picture.paste(1, (0, 0, 10, 10))
        picture.info["transparency"] = 0
    picture.save(tmp_path / "p.png", transparency=0) if mode == "P" else picture.save(
        tmp_path / "p.png")
    rgb = load_image(tmp_path / "p.png")
    assert rgb.shape == (30, 40, 3)
    assert (rgb[20:, 20:] == 255).all()  # the transparent part
    assert (rgb[:10, :10].mean(axis=2) < 128).all() or mode == "P"
    if mode == "P":
        assert (rgb[:10, :10] == [255, 0, 0]).all()


# -- 7. an audio track that does not decode -------------------------------------------------------

def test_a_video_whose_audio_does_not_decode_is_partial_even_quietly(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr", reason="needs the video extra")
    from emolens.audio.decode import load_audio

    sound = load_audio(FIXTURES / "en_flight.ogg")[: 16000 * 3]
    frames = [np.full((64, 64, 3), 90, np.uint8)] * 15
    good = write_clip(tmp_path / "good.mp4", frames, 5, sound)
    data = bytearray(good.read_bytes())
    with av.open(str(good)) as container:
        spans = [(p.pos, p.size) for p in container.demux(container.streams.audio[0])
                 if p.pos is not None and p.size]
    noise = np.random.default_rng(1)
    for pos, size in spans:
        data[pos:pos + size] = noise.integers(0, 256, size, np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    silent = write_clip(tmp_path / "silent.mp4", frames, 5)
    runner = CliRunner()
    done = runner.invoke(app, ["analyze", "video", str(bad), "--no-ocr", "--no-store", "-q"])
    assert done.exit_code == 3, done.output
    assert "audio track not analysed" in done.stderr and "cannot be decoded" in done.stderr
    as_json = runner.invoke(app, ["analyze", "video", str(bad), "--no-ocr", "--no-store",
                                  "--json"])
    assert as_json.exit_code == 3, as_json.output
    lines = [json.loads(x) for x in as_json.stdout.splitlines() if x.startswith("{")]
    assert [x["status"] for x in lines if x.get("type") == "file"] == ["partial"]
    plain = runner.invoke(app, ["analyze", "video", str(silent), "--no-ocr", "--no-store",
                                "--json"])
    assert plain.exit_code == 0, plain.output  # no audio track at all stays a note
    file = [json.loads(x) for x in plain.stdout.splitlines() if '"type": "file"' in x][0]
    assert any("no audio track" in n for n in file["summary"]["notes"])


# -- 8. English or Chinese only ------------------------------------------------------------------

def test_chinese_speech_is_not_read_as_english_without_language(
        caplog: pytest.LogCaptureFixture) -> None:
    from emolens.audio.asr import Transcriber
    from emolens.audio.decode import load_audio

    transcriber = Transcriber("base")
    with caplog.at_level(logging.WARNING, logger="emolens"):
        zh = transcriber.transcribe(load_audio(FIXTURES / "zh_gift.ogg"))
    assert zh.language == "zh" and "礼物" in zh.text, zh.text
    assert "--language" in caplog.text  # a close call says how to be sure
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="emolens"):
        en = transcriber.transcribe(load_audio(FIXTURES / "en_flight.ogg"))
    assert en.language == "en" and "--language" not in caplog.text


# -- 10. truncated files say so ------------------------------------------------------------------

def _wav(path: Path, seconds: float) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(16000 * seconds)) / 16000)
        frame = av.AudioFrame.from_ndarray((tone * 32767).astype(np.int16)[None],
                                           format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


@pytest.mark.parametrize("kind", ["wav", "ogg"])
def test_a_truncated_recording_is_analysed_with_a_warning(
        tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    from emolens.audio.decode import load_audio

    full = _wav(tmp_path / "full.wav", 4.0) if kind == "wav" else FIXTURES / "en_flight.ogg"
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    with caplog.at_level(logging.WARNING, logger="emolens"):
        load_audio(full)
    assert "truncated" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="emolens"):
        decoded = load_audio(cut)
    assert decoded.size > 0 and "truncated" in caplog.text and str(cut) in caplog.text


# -- 11, 12. empty folders, models of the wrong kind ---------------------------------------------

def test_a_folder_without_matching_files_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no media here")
    done = CliRunner().invoke(app, ["analyze", "image", str(tmp_path / "empty"), "--no-ocr",
                                    "--no-store", "-q"])
    assert done.exit_code == 1
    assert f"{tmp_path / 'empty'}: no image files (jpg, png" in done.stderr
    assert "no such file" not in done.stderr


@pytest.mark.parametrize(("kind", "command", "said"), [
    ("image", "audio", "is an image model, not an audio one"),
    ("audio", "image", "is an audio model, not an image one"),
])
def test_a_model_of_the_other_kind_is_refused(tmp_path: Path, kind: str, command: str,
                                              said: str) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "emolens-model.json").write_text(json.dumps({
        "type": "media-head", "modality": kind, "name": "mine", "version": "1",
        "labels": ["joy", "sadness"], "scheme": "canonical", "encoder": "x"}))
    media = tmp_path / ("clip.ogg" if command == "audio" else "face.png")
    media.write_bytes(b"not read")
    done = CliRunner().invoke(app, ["analyze", command, str(media), "--model", str(model),
                                    "--no-store"])
    assert done.exit_code == 1
    assert f"{model} {said}" in done.stderr


def test_emolens_model_naming_a_media_model_is_read_as_model_is(tmp_path: Path,
                                                                monkeypatch) -> None:
    model = tmp_path / "faces"
    model.mkdir()
    (model / "emolens-model.json").write_text(json.dumps({
        "type": "media-head", "modality": "image", "name": "mine", "version": "1",
        "labels": ["joy", "sadness"], "scheme": "canonical", "encoder": "x"}))
    media = tmp_path / "clip.ogg"
    media.write_bytes(b"not read")
    monkeypatch.setenv("EMOLENS_MODEL", str(model))
    done = CliRunner().invoke(app, ["analyze", "audio", str(media), "--no-store"])
    # routed as --model would be (a face model refused for audio), not read as a text model
    assert done.exit_code == 1
    assert f"{model} is an image model, not an audio one" in done.stderr
    assert "not texts" not in done.stderr
