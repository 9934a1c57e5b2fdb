"""Training on multi-label data (GoEmotions-style "joy,surprise" gold labels): one row per
label, per-label thresholds fitted on validation items and stored in the model, and results
that list every label over its threshold in ``details["labels"]``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import emolens
from emolens.train.data import LabelledData, read_labelled

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "goemotions"
# GoEmotions ids -> the label names used here: a user's own small taxonomy ("thanks" is in no
# scheme, so the model keeps its own labels instead of mapping them to the canonical set).
KEEP = {"17": "joy", "2": "anger", "26": "surprise", "27": "neutral", "15": "thanks"}


def _goemotions_csv(path: Path, split: str, limit: int) -> Path:
    """Real GoEmotions comments whose labels are all in KEEP, written as a labelled CSV."""
    rows = []
    with (SHARED / f"{split}.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            text, ids, _ = line.rstrip("\n").split("\t")
            labels = ids.split(",")
            if all(k in KEEP for k in labels):
                rows.append((text, ",".join(KEEP[k] for k in labels)))
            if len(rows) >= limit:
                break
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not (SHARED / "train.tsv").is_file():
        pytest.skip(f"GoEmotions not found at {SHARED}")
    root = tmp_path_factory.mktemp("multi")
    return {"train": _goemotions_csv(root / "train.csv", "train", 4000),
            "dev": _goemotions_csv(root / "dev.csv", "dev", 800), "root": root}


def test_explode_gives_one_row_per_label() -> None:
    d = LabelledData(["a", "b"], ["joy,surprise", "anger"], None, Path("x.csv"))
    assert d.is_multilabel()
    e = d.explode()
    assert e.texts == ["a", "a", "b"] and e.labels == ["joy", "surprise", "anger"]
    assert not LabelledData(["a"], ["joy"], None, Path("x.csv")).is_multilabel()


def test_ngram_model_stores_thresholds_and_lists_labels_over_them(data: dict[str, Path]
                                                                 ) -> None:
    from typer.testing import CliRunner

    from emolens.cli import app

    out = data["root"] / "model"
    train = read_labelled(data["train"])
    assert train.is_multilabel(), "the fixture must hold items with several labels"
    result = CliRunner().invoke(app, ["train", "text", "--data", str(data["train"]), "--dev",
                                      str(data["dev"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "per-label thresholds" in result.output
    meta = json.loads((out / "emolens-model.json").read_text())
    assert sorted(meta["labels"]) == sorted(KEEP.values())  # no "joy,surprise" class
    thresholds = meta["label_thresholds"]
    assert set(thresholds) == set(meta["labels"])
    assert all(0.0 < t < 1.0 for t in thresholds.values())

    model = emolens.load(out)
    dev = read_labelled(data["dev"])
    results = model.analyze_batch(dev.texts)
    own = list(model.output_labels)
    hits = 0
    for r, gold in zip(results, dev.label_sets(own), strict=True):
        listed = r.details["labels"]
        over = [k for k in own if r.scores[k] >= thresholds[k]]
        expected = sorted(over, key=lambda k: -r.scores[k]) or [r.label]
        assert listed == expected
        hits += len(set(listed) & set(gold))
    # Thresholded sets recover more gold labels than the single top label alone would.
    top_only = sum(r.label in gold for r, gold in zip(results, dev.label_sets(own),
                                                      strict=True))
    assert hits >= top_only
    multi = [i for i, g in enumerate(dev.label_sets(own)) if len(g) > 1]
    assert multi and np.mean([len(results[i].details["labels"]) for i in multi]) >= 1.0


def test_single_label_models_have_no_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "single.csv"
    rows = [("what a lovely surprise party", "joy"), ("I am furious about this", "anger")] * 20
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    from emolens.train.text import train_text

    model, _ = train_text(read_labelled(path), tmp_path / "m")
    assert model.label_thresholds is None
    r = emolens.load(tmp_path / "m").analyze_batch(["I am furious"])[0]
    assert "labels" not in r.details


def test_evaluate_scores_native_gold_labels_on_the_models_own_labels(tmp_path: Path) -> None:
    """A model trained on dair's labels reports canonical scores (love -> joy); evaluated on
    gold labels of its own scheme it is scored on those labels, so 'love' can be right."""
    from typer.testing import CliRunner

    from emolens.cli import app

    rows = [("I adore you so much, my darling", "love"), ("we won the match, great day", "joy"),
            ("this makes me furious", "anger")] * 30
    data = tmp_path / "d.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    from emolens.train.text import train_text

    train_text(read_labelled(data), tmp_path / "m")
    result = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path / "m"), "--data",
                                      str(data), "--report-dir", str(tmp_path / "r"),
                                      "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "scoring on the model's own labels" in result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["classification"]["per_class"]["love"]["recall"]["value"] > 0.9
