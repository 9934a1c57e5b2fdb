"""Splits, heads, calibration and abstention shared by every modality; text folds and groups
through the real CLI on dair-ai emotion rows."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import emolens
from emolens.cli import app
from emolens.errors import InvalidInputError
from emolens.train import splits
from emolens.train.heads import HeadOptions, LinearHead, train_head
from emolens.train.media import resolve_scheme, result_from_probs

DAIR = Path(__file__).resolve().parents[2] / "shared/data/dair_emotion/train.txt"


def _toy(n_groups: int = 8, per_group: int = 12, seed: int = 0):
    """Three classes, separable in 2 of 10 dims, with a group (speaker) offset on every item."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(3), n_groups * per_group // 3)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per_group)
    x = rng.normal(size=(len(y), 10))
    x[:, 0] += 2.0 * (y == 1) - 2.0 * (y == 2)
    x[:, 1] += 2.0 * (y == 0)
    x += rng.normal(scale=0.5, size=(n_groups, 10))[np.repeat(np.arange(n_groups), per_group)]
    return x, y, groups


def test_group_splits_never_put_a_group_on_both_sides():
    _, y, groups = _toy()
    labels = [str(v) for v in y]
    for seed in range(5):
        train, val = splits.holdout(labels, groups, 0.25, seed)
        assert not set(groups[train]) & set(groups[val])
        assert len(train) + len(val) == len(y)
        folds = splits.kfold(labels, 4, groups, seed)
        assert len(folds) == 4
        seen = np.concatenate([val for _, val in folds])
        assert sorted(seen) == list(range(len(y)))  # each item validated exactly once
        for train, val in folds:
            assert not set(groups[train]) & set(groups[val])


def test_split_errors_say_what_to_change():
    with pytest.raises(InvalidInputError, match="needs at least 5 groups"):
        splits.kfold(["a", "b"] * 4, 5, ["g1", "g2"] * 4)
    with pytest.raises(InvalidInputError, match="at least two groups"):
        splits.holdout(["a", "b"], ["g", "g"])
    with pytest.raises(InvalidInputError, match="does not match 1 file"):
        splits.groups_from_names(["03-01-05-02-01-01-12.flac", "x.wav"], r"-(\d+)\.\w+$")
    assert splits.groups_from_names(["a/03-01-05-02-01-01-12.flac"], r"-(\d+)\.\w+$") == ["12"]


def test_kfold_head_reports_k_folds_and_saves_as_plain_arrays():
    x, y, groups = _toy()
    head, v = train_head(x, y, ["a", "b", "c"], HeadOptions(folds=4), groups=groups)
    assert v.method == "k-fold" and len(v.folds) == 4 and sum(f["n"] for f in v.folds) == len(y)
    assert v.accuracy > 0.6 and v.fold_summary("accuracy")[1] >= 0
    assert 0 <= v.ece_scaled <= 1 and v.temperature > 0
    again = LinearHead.from_arrays(head.arrays())
    probs = again.predict_proba(x[:5])
    assert np.allclose(probs, head.predict_proba(x[:5])) and np.allclose(probs.sum(1), 1)


def test_holdout_temperature_scaling_brings_calibration_error_down():
    # An over-confident head: tiny regularisation on few, noisy items.
    x, y, groups = _toy(n_groups=20, per_group=30, seed=1)
    x = np.hstack([x, np.random.default_rng(2).normal(size=(len(y), 60))])
    head, v = train_head(x, y, ["a", "b", "c"], HeadOptions(c=100.0, val_split=0.4),
                         groups=groups)
    assert v.method == "hold-out" and v.temperature > 1  # softened
    assert v.ece_scaled < v.ece and v.ece_scaled <= 0.1


def test_abstention_labels_uncertain_and_keeps_scores():
    r = result_from_probs(np.array([0.4, 0.35, 0.25]), ["angry", "happy", "sad"], "ravdess",
                          0.5, modality="audio")
    assert r.label == "uncertain" and r.details["top"] == "angry"
    assert sum(r.scores.values()) == pytest.approx(1) and r.confidence == pytest.approx(0.4)
    assert r.valence is not None  # ravdess labels map to canonical
    mine = result_from_probs(np.array([0.9, 0.1]), ["engaged", "bored"], "custom", 0.5)
    assert mine.label == "engaged" and mine.valence is None


def test_scheme_is_found_or_kept_custom():
    assert resolve_scheme(["joy", "anger"]) == "canonical"
    assert resolve_scheme(["angry", "happy"], prefer="fer2013") == "fer2013"
    assert resolve_scheme(["calm", "fearful"]) == "ravdess"
    assert resolve_scheme(["engaged", "bored"]) == "custom"
    with pytest.raises(InvalidInputError, match="not in it"):
        resolve_scheme(["engaged"], "ravdess")


@pytest.fixture
def dair_table(tmp_path):
    if not DAIR.is_file():
        pytest.skip(f"dair-ai emotion not found at {DAIR}")
    rows = [line.rstrip("\n").rsplit(";", 1) for line in DAIR.open(encoding="utf-8")][:900]
    path = tmp_path / "dair.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "author"])
        writer.writerows((text, label, f"u{i % 40}") for i, (text, label) in enumerate(rows))
    return path


def test_train_text_with_grouped_folds_and_abstention(dair_table, tmp_path):
    result = CliRunner().invoke(app, [
        "train", "text", "--data", str(dair_table), "--out", str(tmp_path / "m"),
        "--folds", "3", "--group-col", "author", "--abstain-below", "0.5"])
    assert result.exit_code == 0, result.output
    assert "3-fold by group" in result.output and result.output.count("fold ") >= 3
    meta = json.loads((tmp_path / "m/emolens-model.json").read_text())
    cv = meta["cross_validation"]
    assert len(cv["folds"]) == 3 and cv["grouped"] and 0 < cv["accuracy_mean"] < 1
    assert meta["abstain_below"] == 0.5
    results = emolens.load(tmp_path / "m").analyze_batch(["i feel it", "i am so happy"])
    assert {r.label for r in results} <= set(emolens.CANONICAL) | {"uncertain"}
    for r in results:
        assert sum(r.scores.values()) == pytest.approx(1)
        if r.label == "uncertain":
            assert r.details["uncertain"] and r.confidence < 0.5


def test_train_text_val_split_reports_validation_and_calibration(dair_table, tmp_path):
    result = CliRunner().invoke(app, [
        "train", "text", "--data", str(dair_table), "--out", str(tmp_path / "m"),
        "--val-split", "0.2", "--group-col", "author"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "dev (hold-out; ECE" in result.output
    meta = json.loads((tmp_path / "m/emolens-model.json").read_text())
    assert meta["dev_metrics"]["n"] > 0 and "ece" in meta["dev_metrics"]["extra"]
