"""The evaluation report: bootstrap scores, calibration, multi-label thresholds, abstention,
and `emolens evaluate` on a real labelled file with the shipped default model."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from typer.testing import CliRunner

import emolens
from emolens.cli import app
from emolens.errors import InvalidInputError
from emolens.train.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    log_probabilities,
    negative_log_likelihood,
    reliability,
)
from emolens.train.data import read_labelled, split_labels
from emolens.train.multilabel import fit_thresholds, label_matrix, multilabel_metrics
from emolens.train.report import build_report, classification_metrics

LABELS = ["anger", "fear", "joy", "sadness", "neutral"]


pytestmark = pytest.mark.usefixtures("isolated_settings")


def noisy_predictions(n: int, seed: int, right: float = 0.6) -> tuple[list[str], list[str]]:
    """Gold labels (skewed) and predictions that are right about ``right`` of the time."""
    rng = np.random.default_rng(seed)
    gold = rng.choice(len(LABELS), size=n, p=[0.1, 0.15, 0.35, 0.25, 0.15])
    # 'neutral' (index 4) is never predicted: its precision is undefined (0/0).
    wrong = rng.integers(0, len(LABELS) - 1, size=n)
    pred = np.where((rng.random(n) < right) & (gold != 4), gold, wrong)
    return [LABELS[i] for i in gold], [LABELS[i] for i in pred]


def synthetic_probs(n: int, k: int, seed: int, sharpen: float = 1.0):
    """Probabilities and gold drawn from them (calibrated); ``sharpen`` > 1 makes the reported
    probabilities over-confident while gold still follows the calibrated ones."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, 0.7), size=n)
    gold = (rng.random((n, 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
    return softmax(sharpen * np.log(probs), axis=1), gold


# -- scores and bootstrap -------------------------------------------------------------------


def test_scores_match_sklearn_on_random_data():
    gold, pred = noisy_predictions(800, seed=1)
    m = classification_metrics(gold, pred, LABELS, n_bootstrap=200)
    present = [x for x in LABELS if x in set(gold) | set(pred)]
    in_gold = [x for x in LABELS if x in set(gold)]
    assert m["accuracy"].value == pytest.approx(accuracy_score(gold, pred))
    assert m["macro_f1"].value == pytest.approx(
        f1_score(gold, pred, labels=in_gold, average="macro"))
    assert m["weighted_f1"].value == pytest.approx(
        f1_score(gold, pred, labels=in_gold, average="weighted"))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=present, zero_division=np.nan)
    for i, label in enumerate(present):
        row = m["per_class"][label]
        np.testing.assert_allclose(
            [row["precision"].value, row["recall"].value, row["f1"].value, row["support"]],
            [p[i], r[i], f[i], s[i]], equal_nan=True)
    assert np.isnan(m["per_class"]["neutral"]["precision"].value)  # never predicted
    assert m["confusion"]["counts"] == confusion_matrix(gold, pred, labels=present).tolist()
    rows = np.array(m["confusion"]["normalized"])
    assert np.allclose(rows.sum(axis=1), 1)


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_data():
    widths = []
    for n in (150, 6000):
        m = classification_metrics(*noisy_predictions(n, seed=n), LABELS, seed=3)
        for est in (m["accuracy"], m["macro_f1"], m["weighted_f1"],
                    *(row["f1"] for row in m["per_class"].values())):
            assert est.low <= est.value <= est.high
        widths.append(m["macro_f1"].high - m["macro_f1"].low)
    assert widths[1] < widths[0] / 3  # about 1/sqrt(40) as wide


def test_bootstrap_agrees_with_resampling_items():
    gold, pred = noisy_predictions(300, seed=5)
    m = classification_metrics(gold, pred, LABELS, n_bootstrap=4000, seed=0)
    hits = np.array(gold) == np.array(pred)
    joy_gold, joy_pred = np.array(gold) == "joy", np.array(pred) == "joy"
    rows = np.random.default_rng(1).integers(0, len(gold), size=(4000, len(gold)))
    accuracy = hits[rows].mean(axis=1)
    tp = (joy_gold & joy_pred)[rows].sum(axis=1)
    joy_f1 = 2 * tp / (joy_gold[rows].sum(axis=1) + joy_pred[rows].sum(axis=1))
    for est, direct in ((m["accuracy"], accuracy), (m["per_class"]["joy"]["f1"], joy_f1)):
        assert [est.low, est.high] == pytest.approx(np.percentile(direct, [2.5, 97.5]), abs=0.015)


def test_report_of_ten_thousand_items_is_quick():
    probs, gold = synthetic_probs(10_000, 7, seed=0)
    started = time.perf_counter()
    report = build_report([str(g) for g in gold], probs, [str(i) for i in range(7)])
    assert time.perf_counter() - started < 10  # about 0.2 s on an idle core
    json.dumps(report.to_dict(), allow_nan=False)


# -- calibration ----------------------------------------------------------------------------


def test_ece_of_a_small_example_by_hand():
    # Bins of width 1/15: 0.95 falls in (14/15, 1], 0.15 in (2/15, 3/15].
    ece = expected_calibration_error(np.array([0.95, 0.95, 0.15]), np.array([1, 0, 0]))
    assert ece == pytest.approx(2 / 3 * 0.45 + 1 / 3 * 0.15)
    rel = reliability(np.array([0.0, 1.0, 0.5]), np.array([1, 1, 0]))
    assert rel.counts.sum() == 3 and rel.counts[0] == 1 and rel.counts[-1] == 1


def test_ece_is_small_when_calibrated_and_large_when_over_confident():
    for sharpen, low, high in ((1.0, 0.0, 0.02), (3.0, 0.1, 1.0)):
        probs, gold = synthetic_probs(20_000, 4, seed=2, sharpen=sharpen)
        ece = expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == gold)
        assert low <= ece < high, (sharpen, ece)


def test_fit_temperature_undoes_over_confidence():
    probs, gold = synthetic_probs(5000, 4, seed=3, sharpen=3.0)
    z = log_probabilities(probs)
    temperature = fit_temperature(z, gold)
    assert temperature == pytest.approx(3.0, rel=0.15)
    assert negative_log_likelihood(z, gold, temperature) < negative_log_likelihood(z, gold) - 0.1
    test_probs, test_gold = synthetic_probs(5000, 4, seed=4, sharpen=3.0)
    scaled = apply_temperature(log_probabilities(test_probs), temperature)
    before = expected_calibration_error(test_probs.max(1), test_probs.argmax(1) == test_gold)
    after = expected_calibration_error(scaled.max(1), scaled.argmax(1) == test_gold)
    assert after < before / 3


def test_fit_temperature_refuses_gold_with_zero_probability():
    with pytest.raises(InvalidInputError, match="probability 0"):
        fit_temperature(log_probabilities(np.array([[1.0, 0.0], [0.5, 0.5]])), np.array([1, 0]))


# -- multi-label ----------------------------------------------------------------------------


def multilabel_set(n: int, seed: int, k: int = 5):
    """Items with 1-3 gold labels; a softmax model splits the mass among them, so a gold
    label's probability is often below 0.5."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, k), dtype=bool)
    for i, size in enumerate(rng.choice([1, 2, 3], size=n, p=[0.5, 0.3, 0.2])):
        y[i, rng.choice(k, size=size, replace=False)] = True
    return softmax(2.5 * y + rng.normal(0, 0.8, (n, k)), axis=1), y


def test_thresholds_fitted_on_validation_data_beat_one_half():
    labels = [f"c{j}" for j in range(5)]
    val_probs, val_y = multilabel_set(2000, seed=1)
    test_probs, test_y = multilabel_set(2000, seed=2)
    thresholds = fit_thresholds(val_probs, val_y)
    assert thresholds.shape == (5,) and (thresholds < 0.5).all()
    half = multilabel_metrics(test_y, test_probs, labels, 0.5, n_bootstrap=200)
    fitted = multilabel_metrics(test_y, test_probs, labels, thresholds, n_bootstrap=200)
    assert fitted["micro_f1"].value > half["micro_f1"].value + 0.05
    assert fitted["macro_f1"].value > half["macro_f1"].value + 0.05
    pred = test_probs >= thresholds
    assert fitted["micro_f1"].value == pytest.approx(f1_score(test_y, pred, average="micro"))
    assert fitted["macro_f1"].value == pytest.approx(f1_score(test_y, pred, average="macro"))
    assert fitted["micro_f1"].low <= fitted["micro_f1"].value <= fitted["micro_f1"].high


def test_report_of_multi_label_gold():
    labels = [f"c{j}" for j in range(5)]
    probs, y = multilabel_set(500, seed=3)
    gold = [[labels[j] for j in np.flatnonzero(row)] for row in y]
    assert (label_matrix(gold, labels) == y).all()
    report = build_report(gold, probs, labels, thresholds=fit_thresholds(probs, y),
                          n_bootstrap=100).to_dict()
    ml = report["multi_label"]
    top1 = y[np.arange(len(y)), probs.argmax(axis=1)].mean()
    assert ml["top1_in_gold"]["value"] == pytest.approx(top1)
    assert ml["fitted"]["micro_f1"]["value"] > ml["at_0.5"]["micro_f1"]["value"]
    assert report["classification"]["n"] == int((y.sum(axis=1) == 1).sum())
    for mistake in report["mistakes"]:
        assert mistake["predicted"] not in mistake["gold"]


def test_gold_cells_may_hold_several_labels(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text('text,label\na,joy\nb,"joy, surprise"\nc,anger|disgust\nd,"x,y"\n',
                    encoding="utf-8")
    data = read_labelled(path)
    assert data.labels[1] == "joy, surprise"  # the raw column is unchanged
    assert data.label_sets(known={"x,y"}) == [("joy",), ("joy", "surprise"),
                                              ("anger", "disgust"), ("x,y",)]
    assert split_labels("a||a") == ("a",)


# -- abstention -----------------------------------------------------------------------------


def test_abstention_in_the_report():
    probs, gold = synthetic_probs(2000, 4, seed=6)
    report = build_report([str(g) for g in gold], probs, ["0", "1", "2", "3"],
                          abstain_below=0.6, n_bootstrap=0).to_dict()["abstention"]
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == gold
    covered = confidence >= 0.6
    assert report["coverage"] == pytest.approx(covered.mean())
    assert report["accuracy_covered"] == pytest.approx(correct[covered].mean())
    assert report["accuracy_covered"] > report["accuracy_all"]  # calibrated: confident is right
    accuracies = [p["accuracy"] for p in report["curve"]]
    assert report["curve"][-1]["coverage"] == 1 and accuracies[0] > accuracies[-1]


def test_uncertain_results_are_flagged_but_keep_their_label():
    texts = ["I am so happy, this is the best day ever!", "ok", "hmm", "气死我了，快递又丢了"]
    plain = emolens.analyze_batch(texts)
    # A threshold between the model's own confidences: some results fall below it, some not.
    confidences = sorted(r.confidence for r in plain)
    assert confidences[0] < confidences[-1]
    cut = round((confidences[0] + confidences[-1]) / 2, 6)
    flagged = emolens.analyze_batch(texts, uncertain_below=cut)
    assert [r.label for r in flagged] == [r.label for r in plain]
    for r in flagged:
        assert r.details.get("uncertain", False) is (r.confidence < cut)
    assert any(r.details.get("uncertain") for r in flagged)
    assert not all(r.details.get("uncertain") for r in flagged)
    assert not any(r.details.get("uncertain") for r in plain)

    result = CliRunner().invoke(app, ["analyze", "text", "--uncertain-below", str(cut), "--json",
                                      *texts])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["details"].get("uncertain", False) for line in lines] == [
        r.confidence < cut for r in plain]
    table = CliRunner().invoke(app, ["analyze", "text", "--uncertain-below", str(cut), *texts])
    assert table.stdout.count("(uncertain)") == sum(r.confidence < cut for r in plain)


def test_an_abstained_result_shows_its_hidden_top_label():
    from rich.console import Console

    from emolens.display import results_table
    from emolens.types import EmotionResult

    abstained = EmotionResult(label="uncertain", scores={"sad": 0.36, "glad": 0.34, "mad": 0.3},
                              details={"uncertain": True, "top": "sad"}, text="hmm")
    console = Console(width=200, record=True)
    console.print(results_table([abstained]))
    shown = console.export_text()
    assert "uncertain (sad?)" in shown and "0.36" in shown
    assert "uncertain (uncertain)" not in shown


def test_uncertain_below_comes_from_the_environment_too(monkeypatch):
    monkeypatch.setenv("EMOLENS_UNCERTAIN_BELOW", "1.0")  # everything is below 1
    result = CliRunner().invoke(app, ["analyze", "text", "--json", "hello there"])
    assert json.loads(result.stdout)["details"]["uncertain"] is True
    monkeypatch.setenv("EMOLENS_UNCERTAIN_BELOW", "2")
    assert CliRunner().invoke(app, ["analyze", "text", "x"]).exit_code != 0


# -- the CLI on a real file -----------------------------------------------------------------

SENTENCES = {
    "joy": ["I am so happy today", "What a wonderful day, I love it", "This made me smile",
            "今天真开心", "太好了，我考上了", "收到礼物好高兴"],
    "anger": ["I am furious with this company", "This is outrageous, I hate it",
              "Stop lying to me, I'm so angry", "气死我了", "太过分了，我很生气",
              "这服务真让人恼火"],
    "sadness": ["I miss my grandmother so much", "I feel lonely and sad tonight",
                "My dog died yesterday", "我好难过", "心里很难受，想哭", "失恋了，很伤心"],
    "fear": ["I am terrified of the exam tomorrow", "There is someone outside, I'm scared",
             "我好害怕", "晚上一个人走夜路很恐怖"],
    "neutral": ["The meeting is at 3 pm", "Please send me the report", "会议在下午三点",
                "请把文件发给我"],
}
MULTI = [("What a surprise, I love it!", "surprise|joy"), ("真没想到，太开心了", "surprise,joy")]


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "test.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "gold"])
        writer.writerows((t, label) for label, texts in SENTENCES.items() for t in texts)
        writer.writerows(MULTI)
    return path


def test_evaluate_writes_a_report_that_matches_a_direct_computation(labelled_csv, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, [
        "evaluate", "--model", "default", "--data", str(labelled_csv), "--text-col", "body",
        "--label-col", "gold", "--report-dir", str(out), "--bootstrap", "300",
        "--abstain-below", "0.6", "--dev", str(labelled_csv)])
    assert result.exit_code == 0, result.output
    for name in ("report.json", "report.md", "report.html"):
        assert (out / name).is_file() and str(out / name) in result.stdout
    assert "macro-F1" in result.stdout and "95 % CI" in result.stdout
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2
    assert "src=\"http" not in page and "<script" not in page  # self-contained
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))

    texts = [t for texts in SENTENCES.values() for t in texts]
    gold = [label for label, ts in SENTENCES.items() for _ in ts]
    results = emolens.analyze_batch(texts + [t for t, _ in MULTI])
    single, multi = results[: len(texts)], results[len(texts):]
    pred = [r.label for r in single]
    cls = report["classification"]
    assert report["meta"]["n"] == len(results) and cls["n"] == len(texts)
    assert cls["accuracy"]["value"] == pytest.approx(accuracy_score(gold, pred))
    assert cls["macro_f1"]["value"] == pytest.approx(
        f1_score(gold, pred, labels=sorted(SENTENCES), average="macro"))
    assert cls["accuracy"]["value"] > 0.6  # these sentences are easy for the shipped model
    low, high = cls["macro_f1"]["ci95"]
    assert low <= cls["macro_f1"]["value"] <= high

    confidence = np.array([r.confidence for r in results])
    correct = np.array([r.label == g for r, g in zip(single, gold, strict=True)]
                       + [r.label in ("surprise", "joy") for r in multi])
    assert report["calibration"]["ece"] == pytest.approx(
        expected_calibration_error(confidence, correct))
    assert report["calibration"]["temperature"]["value"] > 0
    assert report["abstention"]["coverage"] == pytest.approx((confidence >= 0.6).mean())
    assert report["multi_label"]["top1_in_gold"]["value"] == pytest.approx(correct.mean())
    assert report["multi_label"]["fitted"] is not None
    wrong = sorted(confidence[~correct], reverse=True)[:20]
    assert [m["confidence"] for m in report["mistakes"]] == pytest.approx(wrong)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| joy |" in markdown and "## Most confident mistakes" in markdown


def test_evaluate_default_folder_and_usage_errors(labelled_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOLENS_OUT_DIR", str(tmp_path / "out"))
    args = ["evaluate", "--data", str(labelled_csv), "--text-col", "body", "--label-col", "gold"]
    result = CliRunner().invoke(app, [*args, "--bootstrap", "0", "--labels", "joy,anger"])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "out").glob("eval-default-*")
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["classification"]["averaged_over"] == ["anger", "joy"]
    assert report["classification"]["accuracy"]["ci95"] == [None, None]
    bad = CliRunner().invoke(app, [*args, "--labels", "joy,happiness"])
    assert bad.exit_code == 1 and "happiness" in bad.output
    assert CliRunner().invoke(app, [*args, "--abstain-below", "1.5"]).exit_code == 2
