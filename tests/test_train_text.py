"""Training and evaluating a text model on a user's own labels, through the real CLI."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import emolens
from emolens.cli import app
from emolens.errors import InvalidInputError, NotFittedError
from emolens.text.ngram import NgramRecognizer

# A support team's own taxonomy: not emotions at all, so the model keeps these labels.
EXAMPLES = {
    "billing": ["I was charged twice this month", "refund my payment please",
                "the invoice amount is wrong", "why is there an extra fee on my bill",
                "my credit card was billed again", "cancel the subscription charge",
                "我的账单多扣了钱", "请退还这笔费用"],
    "delivery": ["my parcel never arrived", "the courier left the box at the wrong door",
                 "tracking says delivered but nothing here", "package is three days late",
                 "the shipment got lost", "where is my order", "快递还没送到", "包裹丢了"],
    "praise": ["great service, thank you", "the agent was so helpful and kind",
               "love this app, works perfectly", "five stars, fast and friendly",
               "thanks for fixing it so quickly", "best support team ever",
               "客服态度非常好", "谢谢你们，太棒了"],
}


def _write(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


@pytest.fixture
def labelled(tmp_path):
    rows = [(t, label) for label, texts in EXAMPLES.items() for t in texts]
    train = [r for i, r in enumerate(rows) if i % 4]
    test = [r for i, r in enumerate(rows) if not i % 4]
    _write(tmp_path / "train.csv", train * 3)
    _write(tmp_path / "test.csv", test)
    return tmp_path


def test_train_evaluate_and_reload_in_a_new_process(labelled):
    runner = CliRunner()
    model_dir = labelled / "model"
    result = runner.invoke(app, ["train", "text", "--data", str(labelled / "train.csv"),
                                 "--out", str(model_dir), "--name", "support"])
    assert result.exit_code == 0, result.output
    meta = json.loads((model_dir / "emolens-model.json").read_text())
    assert meta["labels"] == ["billing", "delivery", "praise"]
    assert meta["scheme"] == "custom"

    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data",
                                 str(labelled / "test.csv"), "--out", str(labelled / "m.json"),
                                 "--report-dir", str(labelled / "report")])
    assert result.exit_code == 0, result.output
    assert (labelled / "report" / "report.json").is_file()  # the full report, beside --out
    metrics = json.loads((labelled / "m.json").read_text())
    assert metrics["n"] == 6  # every 4th of the 24 examples
    assert metrics["accuracy"] >= 0.5  # 3 classes: chance is 1/3
    assert set(metrics["per_class"]) <= {"billing", "delivery", "praise"}

    texts = ["they billed my card twice", "包裹还没到", "thank you so much"]
    here = emolens.load(model_dir).analyze_batch(texts)
    assert set(here[0].scores) == {"billing", "delivery", "praise"}
    assert here[0].valence is None  # custom labels have no valence anchors
    code = (
        "import json, sys, emolens;"
        f"rs = emolens.load({str(model_dir)!r}).analyze_batch({texts!r});"
        "print(json.dumps([r.scores for r in rs]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    for mine, theirs in zip(here, json.loads(out), strict=True):
        assert mine.scores == pytest.approx(theirs, abs=1e-9)


def test_training_writes_a_model_card_but_keeps_one_written_by_hand(labelled):
    args = ["train", "text", "--data", str(labelled / "train.csv"), "--dev",
            str(labelled / "test.csv"), "--name", "support"]
    model_dir = labelled / "model"
    assert CliRunner().invoke(app, [*args, "--out", str(model_dir)]).exit_code == 0
    card = (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card.startswith("# support ") and "billing, delivery, praise" in card
    assert "own labels" in card and "| billing | 18 |" in card and "| macro-F1 |" in card
    assert "not what anyone feels" in card
    info = CliRunner().invoke(app, ["models", "info", str(model_dir)], terminal_width=200)
    assert "no MODEL_CARD.md" not in info.output
    (model_dir / "MODEL_CARD.md").write_text("# Our support model\n\nWritten by us.\n")
    assert CliRunner().invoke(app, [*args, "--out", str(model_dir)]).exit_code == 0
    assert (model_dir / "MODEL_CARD.md").read_text() == "# Our support model\n\nWritten by us.\n"


def test_canonical_labels_make_a_model_that_reports_canonical_scores(tmp_path):
    rows = [("so happy and glad", "joy"), ("what a wonderful day", "joy"),
            ("I am furious with you", "anger"), ("this makes me so angry", "anger"),
            ("the meeting is at noon", "neutral"), ("the report is attached", "neutral")]
    _write(tmp_path / "t.csv", rows * 4)
    result = CliRunner().invoke(app, ["train", "text", "--data", str(tmp_path / "t.csv"),
                                      "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    r = emolens.load(tmp_path / "m").analyze_batch(["I am so happy"])[0]
    assert set(r.scores) == set(emolens.CANONICAL)
    assert r.scores["fear"] == 0 and r.label == "joy" and r.valence > 0


def test_probabilities_are_calibrated_not_hard(labelled):
    model = NgramRecognizer().fit(*zip(*[(t, label) for label, ts in EXAMPLES.items()
                                         for t in ts], strict=True))
    probs = model.predict_proba(["refund my double charge", "hello"])
    assert np.allclose(probs.sum(axis=1), 1)
    assert 0 < probs.max() < 1
    assert model.heads_["en"].temperature > 0


def test_errors_name_the_problem(labelled, tmp_path):
    with pytest.raises(NotFittedError):
        NgramRecognizer(labels=["a", "b"]).predict_proba(["x"])
    with pytest.raises(InvalidInputError, match="single label"):
        NgramRecognizer().fit(["a", "b"], ["x", "x"])
    result = CliRunner().invoke(app, ["train", "text", "--data", str(labelled / "train.csv"),
                                      "--label-col", "category", "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "no column 'category'" in result.output
    assert "columns are ['text', 'label']" in result.output


def test_training_files_in_gb18030_are_read(tmp_path):
    from emolens.train.data import read_labelled

    path = tmp_path / "gbk.csv"
    path.write_text("text,label\n今天真开心,joy\n气死我了,anger\n", encoding="gb18030")
    data = read_labelled(path)
    assert data.texts == ["今天真开心", "气死我了"] and data.labels == ["joy", "anger"]
