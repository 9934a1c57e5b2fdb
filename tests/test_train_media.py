"""`emolens train audio` on real RAVDESS clips: train, evaluate, reload in a new process with the
same predictions, group-aware folds, unreadable files reported, the trained voice model in
`analyze audio`. (Images: test_train_image.py.)"""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import emolens
from emolens.cli import app

RAVDESS = Path(__file__).resolve().parents[2] / "shared/data/ravdess_speech"
EMOTIONS = {"05": "angry", "03": "happy", "04": "sad"}  # RAVDESS emotion code -> label
ACTORS = (1, 2, 3, 4)
runner = CliRunner()


def ravdess(code: str, actor: int, statement: str = "01") -> Path:
    return RAVDESS / f"Actor_{actor:02d}/03-01-{code}-02-{statement}-01-{actor:02d}.flac"


def predict_in_new_process(model: Path, files: list[Path]) -> list[dict]:
    code = ("import json, sys, emolens;"
            f"rs = emolens.load({str(model)!r}).analyze_files({[str(f) for f in files]!r});"
            "print(json.dumps([[r.label, r.scores] for r in rs]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def audio_model(tmp_path_factory):
    """A folder tree LABEL/FILE of 24 clips (4 actors) plus one broken file, trained with
    4-fold cross-validation grouped by actor (the group taken from the file name)."""
    pytest.importorskip("faster_whisper", reason="audio training needs the 'audio' extra")
    if not RAVDESS.is_dir():
        pytest.skip(f"RAVDESS speech files not found at {RAVDESS}")
    root = tmp_path_factory.mktemp("audio")
    for code, label in EMOTIONS.items():
        (root / "data" / label).mkdir(parents=True)
        for actor in ACTORS:
            for statement in ("01", "02"):
                source = ravdess(code, actor, statement)
                shutil.copy(source, root / "data" / label / source.name)
    (root / "data/sad/broken-01.wav").write_bytes(b"RIFF this is not audio")
    result = runner.invoke(app, [
        "train", "audio", "--data", str(root / "data"), "--out", str(root / "model"),
        "--group-regex", r"-(\d+)\.\w+$", "--folds", "4", "--abstain-below", "0.4",
        "--name", "voice-test", "--cache-dir", str(root / "cache")])
    return root, result


def test_audio_training_reports_folds_groups_and_bad_files(audio_model):
    root, result = audio_model
    assert result.exit_code == 3, result.output  # partial: one file could not be read
    assert "broken-01.wav" in result.output and "skipped" in result.output
    assert "4 folds" in result.output
    meta = json.loads((root / "model/emolens-model.json").read_text())
    assert meta["labels"] == ["angry", "happy", "sad"] and meta["scheme"] == "ravdess"
    assert meta["trained"]["items"] == 24 and meta["trained"]["groups"] == 4
    assert any("broken-01.wav" in bad for bad in meta["trained"]["bad_files"])
    folds = meta["validation"]["folds"]
    assert len(folds) == 4 and all(f["groups"] == 1 for f in folds)  # one actor per fold
    assert sum(f["n"] for f in folds) == 24  # every clip validated exactly once
    assert meta["validation"]["accuracy"] > 1 / 3  # better than chance on unseen actors
    assert meta["abstain_below"] == 0.4
    card = (root / "model/MODEL_CARD.md").read_text()
    assert "mean ± sd over 4 folds" in card and "ECE after scaling" in card
    weights = np.load(root / "model/weights.npz", allow_pickle=False)
    assert {"mean", "scale", "coef", "intercept", "temperature", "probe"} <= set(weights.files)


def test_audio_model_evaluates_and_reloads_in_a_new_process(audio_model):
    root, _ = audio_model
    test_files = [ravdess(code, 5) for code in EMOTIONS]  # an actor never seen
    with (root / "test.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "emotion"])
        writer.writerows([(str(f), label) for f, label in zip(test_files, EMOTIONS.values(),
                                                              strict=True)])
    result = runner.invoke(app, ["evaluate", "--model", str(root / "model"), "--data",
                                 str(root / "test.csv"), "--path-col", "file", "--label-col",
                                 "emotion", "--report-dir", str(root / "report"),
                                 "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads((root / "report/report.json").read_text())
    assert report["meta"]["n"] == 3 and report["meta"]["modality"] == "audio"

    here = emolens.load(root / "model").analyze_files(test_files)
    there = predict_in_new_process(root / "model", test_files)
    for mine, (label, scores) in zip(here, there, strict=True):
        assert mine.label == label and mine.scores == pytest.approx(scores, abs=1e-6)
        assert sum(mine.scores.values()) == pytest.approx(1.0)
        assert mine.label in {"angry", "happy", "sad", "uncertain"}


def test_retraining_reuses_cached_features(audio_model):
    root, _ = audio_model
    result = runner.invoke(app, [
        "train", "audio", "--data", str(root / "data"), "--out", str(root / "model2"),
        "--val-split", "0.25", "--group-regex", r"-(\d+)\.\w+$", "--balanced", "--c", "0.1",
        "--cache-dir", str(root / "cache")])
    assert result.exit_code == 3, result.output
    assert "(24 from the cache)" in result.output
    meta = json.loads((root / "model2/emolens-model.json").read_text())
    assert meta["validation"]["method"] == "hold-out" and meta["head"]["C"] == 0.1


def test_models_info_shows_the_generated_card(audio_model):
    root, _ = audio_model
    result = runner.invoke(app, ["models", "info", str(root / "model")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "voice-test" in result.output and "ECE after scaling" in result.output


def test_analyze_audio_with_the_trained_voice_model(audio_model, tmp_path):
    root, _ = audio_model
    result = runner.invoke(app, ["analyze", "audio", str(ravdess("05", 7)), "--model",
                                 str(root / "model"), "--no-store", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    version = json.loads((root / "model/emolens-model.json").read_text())["version"]
    assert len(version) == 12  # no --version: a hash of the head, this training's own id
    assert f"voice=voice-test@{version}" in result.output
    assert '"segments": 1' in result.output  # one utterance, on the canonical labels


def test_voice_model_on_own_labels_labels_speech_segments(audio_model, tmp_path):
    """A voice model trained on the user's own labels (agitated / subdued) labels each speech
    segment with them, keeps the words' canonical scores beside them and fuses nothing."""
    root, _ = audio_model
    own = {"angry": "agitated", "happy": "agitated", "sad": "subdued"}
    for folder in (root / "data").iterdir():
        target = tmp_path / "data" / own[folder.name]
        target.mkdir(parents=True, exist_ok=True)
        for clip in folder.glob("*.flac"):
            shutil.copy(clip, target / clip.name)
    trained = runner.invoke(app, [
        "train", "audio", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "model"),
        "--name", "arousal-test", "--cache-dir", str(root / "cache")])
    assert trained.exit_code == 0, trained.output
    assert json.loads((tmp_path / "model/emolens-model.json").read_text())["scheme"] == "custom"
    table = tmp_path / "segments.csv"
    result = runner.invoke(app, ["analyze", "audio", str(ravdess("05", 7)), "--model",
                                 str(tmp_path / "model"), "--no-store", "--json", "--quiet",
                                 "--out", str(table)])
    assert result.exit_code == 0, result.output
    with table.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {"p_agitated", "p_subdued", "p_anger"} <= set(rows[0])
    assert float(rows[0]["p_agitated"]) + float(rows[0]["p_subdued"]) == pytest.approx(1.0)
    segments = [json.loads(line) for line in result.output.splitlines()
                if line.startswith("{") and '"modality": "speech"' in line]
    assert segments
    for segment in segments:
        assert set(segment["scores"]) == {"agitated", "subdued"}
        assert segment["label"] in {"agitated", "subdued"}
        assert sum(segment["scores"].values()) == pytest.approx(1.0)
        assert segment["valence"] is None and "fusion_weights" not in segment["details"]
        words = segment["details"]["words"]
        assert words is None or set(words) == set(emolens.labels.CANONICAL)


def test_analyze_video_with_the_trained_voice_model(audio_model, tmp_path):
    # `analyze video --model` once passed only the face and text models on: the video's
    # speech was read by the shipped voice model, with no warning.
    from clips import write_clip

    from emolens.audio.decode import load_audio

    root, _ = audio_model
    speech = load_audio(ravdess("05", 7))
    grey = np.full((120, 160, 3), 90, np.uint8)
    path = write_clip(tmp_path / "talk.mp4", [grey] * (5 * speech.size // 16000 + 1), rate=5,
                      sound=speech)
    result = runner.invoke(app, ["analyze", "video", str(path), "--model", str(root / "model"),
                                 "--no-ocr", "--fps", "1", "--no-store", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "voice=voice-test@" in result.output and "voice-ravdess" not in result.output


def test_audio_config_records_options_and_evaluate_names_images(audio_model, tmp_path):
    root, _ = audio_model
    config = json.loads((root / "model/emolens-model.json").read_text())["config"]
    assert config["group_regex"] == r"-(\d+)\.\w+$" and config["whisper"] == "base"
    assert config["no_trim_view"] is False and config["group_col"] is None
    faces = tmp_path / "faces.csv"
    faces.write_text("path,label\na.jpg,happy\nb.jpg,sad\n")
    result = runner.invoke(app, ["evaluate", "--model", str(root / "model"), "--data",
                                 str(faces)])
    assert result.exit_code != 0
    assert "the files are images (.jpg); this is an audio model" in result.output
