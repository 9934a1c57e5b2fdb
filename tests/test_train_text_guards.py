"""`emolens train text` and `emolens evaluate` on risky input, through the real CLI: a folder
of the user's own files as --out, model identities, null rows, too little data, one label
per language, bad --labels, a directory as --data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tables import write_rows
from typer.testing import CliRunner

import emolens
from emolens.cli import app
from emolens.errors import InvalidInputError
from emolens.models import DEFAULT_MODEL_DIR
from emolens.text.ngram import NgramRecognizer
from emolens.train import splits

pytestmark = pytest.mark.usefixtures("isolated_settings")

ROWS = [("I am so happy today", "joy"), ("what a wonderful lovely day", "joy"),
        ("glad and happy with this", "joy"), ("this makes me so angry", "anger"),
        ("I am furious with you", "anger"), ("angry about the broken promise", "anger")]



def _train(*args: str):
    return CliRunner().invoke(app, ["train", "text", *args], terminal_width=300)


def _meta(folder) -> dict:
    return json.loads((folder / "emolens-model.json").read_text())


# -- 1. --out never mixes a model in with the user's own files --------------------------------

def test_training_refuses_a_folder_of_other_files_and_keeps_them(tmp_path):
    data = write_rows(tmp_path / "train.csv", ROWS * 3)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "notes.txt").write_text("my notes")
    (proj / "posts.csv").write_text("text\nhello\n")
    result = _train("--data", str(data), "--out", str(proj))
    assert result.exit_code == 1
    assert "not empty and holds no emolens model" in result.output
    assert "notes.txt, posts.csv" in result.output
    assert sorted(p.name for p in proj.iterdir()) == ["notes.txt", "posts.csv"]
    assert (proj / "notes.txt").read_text() == "my notes"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert _train("--data", str(data), "--out", str(empty)).exit_code == 0
    again = _train("--data", str(data), "--out", str(empty))  # a model folder: retrained
    assert again.exit_code == 0, again.output
    a_file = tmp_path / "model.txt"
    a_file.write_text("x")
    refused = _train("--data", str(data), "--out", str(a_file))
    assert refused.exit_code == 1 and "is a file, not a folder" in refused.output


def test_the_library_save_refuses_a_folder_of_other_files(tmp_path):
    model = NgramRecognizer(min_df=1).fit(*zip(*ROWS, strict=True))
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="notes.txt"):
        model.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_model_trained_into_a_folder_is_removed_without_the_users_files(tmp_path):
    data = write_rows(tmp_path / "train.csv", ROWS * 3)
    proj = tmp_path / "proj"
    assert _train("--data", str(data), "--out", str(proj)).exit_code == 0
    (proj / "notes.txt").write_text("added later")
    runner = CliRunner()
    refused = runner.invoke(app, ["models", "remove", str(proj), "--yes"])
    assert refused.exit_code == 1 and "notes.txt" in refused.output
    assert (proj / "notes.txt").is_file() and (proj / "emolens-model.json").is_file()


# -- 2. distinct trainings get distinct model ids ---------------------------------------------

def test_default_versions_differ_between_trainings_and_given_ones_win(tmp_path):
    first = write_rows(tmp_path / "a.csv", ROWS * 3)
    other = write_rows(tmp_path / "b.csv", [(t + " indeed", "neutral" if y == "joy" else y)
                                        for t, y in ROWS] * 3)
    for data, out in ((first, "m1"), (other, "m2"), (first, "m3")):
        result = _train("--data", str(data), "--out", str(tmp_path / out))
        assert result.exit_code == 0, result.output
    ids = {out: emolens.load(str(tmp_path / out)).model_id for out in ("m1", "m2", "m3")}
    assert ids["m1"] != ids["m2"] and ids["m1"].startswith("custom@")
    assert ids["m1"] == ids["m3"]  # the same data and options give the same model
    assert ids["m1"] in _train("--data", str(first), "--out", str(tmp_path / "m4")).output
    named = _train("--data", str(first), "--out", str(tmp_path / "m5"), "--name", "mine",
                   "--version", "2")
    assert named.exit_code == 0 and emolens.load(str(tmp_path / "m5")).model_id == "mine@2"
    shipped = json.loads((DEFAULT_MODEL_DIR / "emolens-model.json").read_text())
    assert NgramRecognizer.load(DEFAULT_MODEL_DIR).version == shipped["version"]  # unchanged


def test_a_retrained_model_does_not_reuse_the_stored_results_of_the_old_one(tmp_path):
    posts = write_rows(tmp_path / "posts.csv", [("so happy and glad",), ("furious and angry",)],
                   header=("text",))
    model, db = tmp_path / "proj", tmp_path / "r.db"

    def analyse() -> dict:
        result = CliRunner().invoke(app, ["analyze", "file", str(posts), "--model", str(model),
                                          "--db", str(db), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.splitlines()[-1])

    assert _train("--data", str(write_rows(tmp_path / "a.csv", ROWS * 3)), "--out",
                  str(model)).exit_code == 0
    assert analyse()["analysed"] == 2
    swapped = [(t, "anger" if y == "joy" else "joy") for t, y in ROWS]
    assert _train("--data", str(write_rows(tmp_path / "b.csv", swapped * 3)), "--out",
                  str(model)).exit_code == 0
    summary = analyse()  # a new model: nothing is "already stored" for it
    assert (summary["analysed"], summary["skipped_existing"]) == (2, 0)


# -- 3. null rows are skipped and counted; evaluate warns on labels the model lacks ----------

@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_null_texts_and_labels_are_skipped_and_reported(tmp_path, suffix):
    frame = pd.DataFrame({"text": [t for t, _ in ROWS * 3] + [None, "a text without label", ""],
                          "label": [y for _, y in ROWS * 3] + ["joy", None, "anger"]})
    data = tmp_path / f"train{suffix}"
    if suffix == ".jsonl":
        frame.to_json(data, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(data)
    result = _train("--data", str(data), "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert "skipped 3 of 21 rows (2 with no text, 1 with no label)" in result.output
    assert _meta(tmp_path / "m")["trained"]["rows"] == 18

    evaluated = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path / "m"), "--data",
                                         str(data), "--report-dir", str(tmp_path / "r")],
                                   terminal_width=300)
    assert evaluated.exit_code == 0, evaluated.output
    assert "skipped 3 of 21 rows" in evaluated.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["classification"]["n"] == 18


def test_evaluate_warns_when_no_gold_label_is_a_model_label(tmp_path):
    model = tmp_path / "m"
    assert _train("--data", str(write_rows(tmp_path / "a.csv", ROWS * 3)), "--out",
                  str(model)).exit_code == 0
    gold = write_rows(tmp_path / "gold.csv", [("so happy", "happy"), ("so mad", "mad")])
    result = CliRunner().invoke(app, ["evaluate", "--model", str(model), "--data", str(gold),
                                      "--report-dir", str(tmp_path / "r")], terminal_width=300)
    assert result.exit_code == 0, result.output
    assert "none of the gold labels" in result.output and "--scheme" in result.output
    fine = write_rows(tmp_path / "fine.csv", [("so happy", "joy"), ("so mad", "anger")])
    quiet = CliRunner().invoke(app, ["evaluate", "--model", str(model), "--data", str(fine),
                                     "--report-dir", str(tmp_path / "r2")], terminal_width=300)
    assert quiet.exit_code == 0 and "none of the gold labels" not in quiet.output
    assert "never gives" not in quiet.output
    some = write_rows(tmp_path / "some.csv", [("so happy", "joy"), ("so mad", "mad"),
                                          ("so glad", "glad")])
    partly = CliRunner().invoke(app, ["evaluate", "--model", str(model), "--data", str(some),
                                      "--report-dir", str(tmp_path / "r3")], terminal_width=300)
    assert partly.exit_code == 0, partly.output
    assert "2 of the 3 items" in partly.output and "glad, mad" in partly.output


# -- 4. too little data for --min-df ----------------------------------------------------------

def test_no_ngram_reaching_min_df_is_a_clear_error(tmp_path):
    data = write_rows(tmp_path / "tiny.csv", [("sunshine", "joy"), ("thunder", "anger")])
    result = _train("--data", str(data), "--out", str(tmp_path / "m"), "--min-df", "5")
    assert result.exit_code == 1
    assert "min_df=5" in result.output and "lower --min-df" in result.output
    assert "0 feature" not in result.output and not (tmp_path / "m").exists()


# -- 5. a language with a single label ---------------------------------------------------------

def test_a_language_with_one_label_gets_no_head_and_the_other_head_scores_it(tmp_path):
    zh = [("今天的课很有意思", "engaged"), ("我很认真地听讲", "engaged"),
          ("这个问题值得讨论", "engaged")]
    en = [("I love working on this", "engaged"), ("keen to start the next task", "engaged"),
          ("this is so annoying and broken", "frustrated"),
          ("nothing works, I give up", "frustrated")]
    data = write_rows(tmp_path / "mixed.csv", (en + zh) * 3)
    result = _train("--data", str(data), "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert "no zh head: every zh training text is labelled engaged" in result.output
    assert _meta(tmp_path / "m")["languages"] == ["en"]
    probs = NgramRecognizer.load(tmp_path / "m").predict_proba(["我很认真", "I give up"])
    assert np.allclose(probs.sum(axis=1), 1)

    only_one = write_rows(tmp_path / "one.csv", [(t, "engaged") for t, _ in en + zh] * 2)
    refused = _train("--data", str(only_one), "--out", str(tmp_path / "m2"))
    assert refused.exit_code == 1
    assert "single label in every language (en: engaged; zh: engaged)" in refused.output


# -- 6. --labels: repeated labels refused; labels that cannot be learnt warned about ----------

def test_repeated_labels_are_refused(tmp_path):
    data = write_rows(tmp_path / "t.csv", ROWS * 3)
    result = _train("--data", str(data), "--out", str(tmp_path / "m"),
                    "--labels", "joy,joy,anger,neutral")
    assert result.exit_code == 1 and "--labels lists joy more than once" in result.output
    assert not (tmp_path / "m").exists()
    with pytest.raises(InvalidInputError, match="more than once"):
        NgramRecognizer(labels=["joy", "joy", "anger"]).fit(*zip(*ROWS, strict=True))


def test_labels_without_enough_training_examples_are_named(tmp_path):
    rows = ROWS * 3 + [("a calm and quiet evening", "neutral")]
    result = _train("--data", str(write_rows(tmp_path / "t.csv", rows)), "--out",
                    str(tmp_path / "m"), "--labels", "joy,anger,neutral,fear")
    assert result.exit_code == 0, result.output
    assert "no training example, so the model never gives them: fear" in result.output
    assert "a single training example" in result.output and ": neutral" in result.output

    # a single surprise example, which the hold-out of --val-split 0.2 puts on its side
    rows = ROWS * 4 + [("what a shock, I did not expect that", "surprise")]
    seed = next(k for k in range(50)
                if len(rows) - 1 in splits.holdout([y for _, y in rows], None, 0.2, k)[1])
    result = _train("--data", str(write_rows(tmp_path / "h.csv", rows)), "--out",
                    str(tmp_path / "h"), "--val-split", "0.2", "--seed", str(seed))
    assert result.exit_code == 0, result.output
    assert "surprise" not in _meta(tmp_path / "h")["trained"]["label_counts"]
    assert ("every example landed in the validation hold-out, so the model never learns "
            "them: surprise") in result.output


# -- 7. a directory as --data -------------------------------------------------------------------

def test_a_directory_as_data_is_named_as_one(tmp_path):
    result = _train("--data", str(tmp_path), "--out", str(tmp_path / "m"))
    assert result.exit_code == 1
    assert "is a directory" in result.output and "no such file" not in result.output
