"""Fixes from a QA pass of `emolens train audio|image` (run with the tiny random-weight face CNN
of test_train_image.py on real FER2013 crops): --folds with --dev, multi-label cells, guarded
temperature scaling, --labels subsets, evaluate on the wrong modality, the saved config and
blank group cells."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_train_image import FER, tiny_face_model
from typer.testing import CliRunner

from emolens.cli import app
from emolens.train.calibration import TEMPERATURE_RANGE, guarded_temperature
from emolens.train.heads import HeadOptions, train_head

runner = CliRunner()
LABELS = ("angry", "happy", "sad")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """12 train and 4 dev FER2013 crops per label (copied), the tiny CNN, a feature cache."""
    if not FER.is_dir():
        pytest.skip(f"FER2013 test crops not found at {FER}")
    pytest.importorskip("onnxruntime", reason="image training needs the 'video' extra")
    root = tmp_path_factory.mktemp("qa-faces")
    tiny_face_model(root / "face")
    for label in LABELS:
        files = sorted((FER / label).glob("*.jpg"))[:16]
        for part, chosen in (("train", files[:12]), ("dev", files[12:])):
            (root / part / label).mkdir(parents=True)
            for path in chosen:
                shutil.copy(path, root / part / label / path.name)
    return root


def table(root: Path, name: str, rows: list[tuple[str, str, str]]) -> Path:
    path = root / name
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "emotion", "person"])
        writer.writerows(rows)
    return path


def train_rows(root: Path) -> list[tuple[str, str, str]]:
    return [(f"train/{label}/{p.name}", label, f"p{i % 4}") for label in LABELS
            for i, p in enumerate(sorted((root / "train" / label).iterdir()))]


def train(root: Path, *args: str):
    return runner.invoke(app, ["train", "image", "--face-model", str(root / "face"),
                               "--no-detect", "-q", "--cache-dir", str(root / "cache"), *args])


def meta_of(model: Path) -> dict:
    return json.loads((model / "emolens-model.json").read_text())


def test_folds_with_dev_validate_on_the_dev_data_as_train_text_does(faces, tmp_path):
    result = train(faces, "--data", str(faces / "train"), "--dev", str(faces / "dev"),
                   "--folds", "3", "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    v = meta_of(tmp_path / "m")["validation"]
    assert v["method"] == "dev" and v["n"] == 12  # the dev files, not the 36 training ones
    assert len(v["folds"]) == 3 and sum(f["n"] for f in v["folds"]) == 36
    assert "3 folds" in result.output and "accuracy (dev)" in result.output


def test_a_multi_label_cell_is_refused_before_any_feature_is_extracted(faces, tmp_path):
    rows = train_rows(faces)
    rows[13] = (rows[13][0], "happy,sad", rows[13][2])
    data = table(faces, "multi.csv", rows)
    common = ["--data", str(data), "--path-col", "file", "--label-col", "emotion"]
    result = train(faces, *common, "--out", str(tmp_path / "m"), "--cache-dir",
                   str(tmp_path / "cache"))
    assert result.exit_code != 0 and not (tmp_path / "m").exists()
    assert Path(rows[13][0]).name in result.output and "--single-label" in result.output
    assert not (tmp_path / "cache").exists()  # refused before extraction
    # --labels naming one of the cell's labels keeps that one (as `train text` does) ...
    kept = train(faces, *common, "--labels", "angry,happy", "--out", str(tmp_path / "k"))
    assert kept.exit_code == 0, kept.output
    meta = meta_of(tmp_path / "k")
    assert meta["scheme"] == "fer2013" and meta["trained"]["label_counts"]["happy"] == 12
    # ... and --single-label keeps the cell whole, as a label of its own.
    whole = train(faces, *common, "--single-label", "--out", str(tmp_path / "w"))
    assert whole.exit_code == 0, whole.output
    assert "happy,sad" in meta_of(tmp_path / "w")["labels"]
    assert meta_of(tmp_path / "w")["config"]["single_label"] is True


def test_labels_subset_trains_on_the_rows_that_have_them(faces, tmp_path):
    result = train(faces, "--data", str(faces / "train"), "--labels", "happy,sad",
                   "--dev", str(faces / "dev"), "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert "left out 12 rows with none of the labels in --labels" in result.output
    assert "left out 4 rows" in result.output  # the dev file's angry faces
    assert "features of 32 files" in result.output  # angry files never extracted
    meta = meta_of(tmp_path / "m")
    assert meta["labels"] == ["happy", "sad"] and meta["trained"]["items"] == 24
    assert meta["validation"]["n"] == 8 and meta["config"]["labels"] == ["happy", "sad"]


def separable(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two far-apart clusters: a head gets every validation item right."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 4)) + 8.0 * y[:, None], y


@pytest.mark.parametrize("folds", [None, 3])
def test_no_sharper_temperature_from_a_small_perfectly_separated_validation(folds):
    x, y = separable(25)
    head, v = train_head(x, y, ["a", "b"], HeadOptions(c=1.0, folds=folds))
    assert head.temperature_ == 1.0 and v.temperature == 1.0  # was 0.05, the fit's bound
    assert "kept at 1" in v.calibration_note and "no mistakes" in v.calibration_note


def test_guarded_temperature_softens_and_sharpens_only_on_enough_evidence():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 200)
    logits = rng.normal(size=(200, 3))
    logits[np.arange(200), gold] += 1.0
    confident, calm = logits * 5, logits / 5  # over- and under-confident
    t, note = guarded_temperature(confident, gold)
    assert t > 1 and note is None
    t, note = guarded_temperature(calm, gold)  # 200 items with mistakes: may sharpen
    assert TEMPERATURE_RANGE[0] <= t < 1 and note is None
    t, note = guarded_temperature(calm[:12], gold[:12])
    assert t == 1.0 and "only 12 validation items" in note
    t, note = guarded_temperature(confident[:12], gold[:12])  # softening is kept, but noted
    assert t >= 1 and "rests on only 12" in note


def test_a_small_hold_out_is_named_in_the_warning_and_the_card(faces, tmp_path):
    result = train(faces, "--data", str(faces / "train"), "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    v = meta_of(tmp_path / "m")["validation"]
    assert v["n"] < 30 and v["temperature"] >= 1 and v["calibration_note"]
    assert "validation items" in result.output
    assert v["calibration_note"] in (tmp_path / "m/MODEL_CARD.md").read_text()


def test_evaluate_names_a_modality_mismatch(faces, tmp_path):
    model = tmp_path / "m"
    assert train(faces, "--data", str(faces / "train"), "--out", str(model)).exit_code == 0
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    clips = table(tmp_path, "clips.csv", [("a.wav", "happy", "x")])
    result = runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(clips),
                                 "--path-col", "file", "--label-col", "emotion"])
    assert result.exit_code != 0
    assert "the files are audio or video files (.wav); this is an image model" in result.output


def test_config_records_reading_options_and_blank_groups_are_their_own(faces, tmp_path):
    rows = train_rows(faces)
    for i in (0, 5, 20):
        rows[i] = (*rows[i][:2], "")
    data = table(faces, "groups.csv", rows)
    result = train(faces, "--data", str(data), "--path-col", "file", "--label-col", "emotion",
                   "--group-col", "person", "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert "3 rows have an empty --group-col 'person' cell" in result.output
    assert "group of its own" in result.output
    meta = meta_of(tmp_path / "m")
    assert meta["trained"]["groups"] == 4 + 3  # p0..p3, and each blank row alone
    config = meta["config"]
    assert config["group_col"] == "person" and config["path_col"] == "file"
    assert config["label_col"] == "emotion" and config["no_detect"] is True
    assert config["face_model"] == str(faces / "face") and config["group_regex"] is None
