"""`emolens.analyze_frame`: a pandas DataFrame in, the same rows with their emotion out, with
the shipped default model on English and Chinese posts, rows without text, name clashes, a
Series, and a model trained on the user's own labels."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import emolens
from emolens.errors import InvalidInputError
from emolens.labels import CANONICAL
from emolens.text.ngram import NgramRecognizer

pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture
def posts() -> pd.DataFrame:
    return pd.DataFrame(
        {"author": ["ann", "bo", "cy", "di", "ed"],
         "body": ["I love this so much, best day ever!", None, "气死我了，快递又丢了",
                  "   ", "I'm terrified of the exam tomorrow"],
         "label": ["joy", "?", "anger", "?", "fear"]},
        index=[101, 102, 103, 104, 105])


def test_each_row_gets_the_default_models_result_beside_its_own_columns(posts, caplog):
    before = posts.copy()
    with caplog.at_level(logging.WARNING):
        out = emolens.analyze_frame(posts, text_col="body")
    pd.testing.assert_frame_equal(posts, before)  # the frame given is left as it is
    assert out.index.tolist() == [101, 102, 103, 104, 105]
    assert out.columns.tolist()[:3] == ["author", "body", "label"]
    assert out.columns.tolist()[3:] == ["emotion", "confidence", "valence", "arousal",
                                        "language", *(f"p_{x}" for x in CANONICAL)]
    assert out.loc[[101, 103, 105], "emotion"].tolist() == ["joy", "anger", "fear"]
    assert out.loc[[101, 103, 105], "language"].tolist() == ["en", "zh", "en"]
    assert out.loc[[102, 104]].iloc[:, 3:].isna().all().all()  # no text: empty, not neutral
    scores = out.loc[[101, 103, 105], [f"p_{x}" for x in CANONICAL]]
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out.loc[[101, 103, 105], "confidence"], scores.max(axis=1))
    assert out.loc[101, "valence"] > 0 > out.loc[103, "valence"]
    assert "2 of 5 rows have no text in 'body' (index 102, 104)" in caplog.text
    # the same as analyze_batch on the texts alone
    texts = posts["body"].dropna().loc[lambda s: s.str.strip() != ""].tolist()
    assert [r.label for r in emolens.analyze_batch(texts)] == \
        out.loc[[101, 103, 105], "emotion"].tolist()


def test_added_columns_never_overwrite_the_users_own(posts):
    clash = posts.rename(columns={"label": "emotion"})
    with pytest.raises(InvalidInputError, match=r"already has columns \['emotion'\]"):
        emolens.analyze_frame(clash, text_col="body")
    out = emolens.analyze_frame(clash, text_col="body", prefix="pred_")
    assert out["emotion"].tolist() == clash["emotion"].tolist()
    assert out.loc[103, "pred_emotion"] == "anger"
    assert "pred_p_neutral" in out


def test_wrong_input_is_named(posts):
    with pytest.raises(InvalidInputError, match=r"no column 'text'.*'author', 'body', 'label'"):
        emolens.analyze_frame(posts)
    with pytest.raises(InvalidInputError, match="analyze_batch"):
        emolens.analyze_frame(["a list of texts"])


def test_a_series_is_read_as_the_texts_and_numbers_as_text():
    series = pd.Series(["好开心[哈哈]", 404, np.nan], name="comment")
    out = emolens.analyze_frame(series, uncertain_below=0.5)
    assert out.columns[0] == "comment" and "uncertain" in out
    assert out.loc[0, "emotion"] == "joy" and out.loc[0, "uncertain"] is False
    assert isinstance(out.loc[1, "emotion"], str)  # 404 read as the text "404"
    assert pd.isna(out.loc[2, "emotion"])


def test_a_model_trained_on_own_labels_adds_its_own_score_columns(tmp_path):
    model = NgramRecognizer(name="engagement", version="1", min_df=1)
    model.fit(["so boring, nothing happens", "yawn, dull lecture", "what a gripping talk",
               "I was hooked from the start"], ["bored", "bored", "engaged", "engaged"])
    directory = model.save(tmp_path / "engagement")
    frame = pd.DataFrame({"text": ["dull and boring", "gripping, I was hooked"]})
    out = emolens.analyze_frame(frame, model=directory)
    assert out["emotion"].tolist() == ["bored", "engaged"]
    assert [c for c in out if c.startswith("p_")] == ["p_bored", "p_engaged"]
    assert out["valence"].isna().all()  # own labels have no valence


def test_results_frame_tables_a_list_of_results():
    texts = ["I love this so much, best day ever!", "气死我了，快递又丢了"]
    results = emolens.analyze_batch(texts)
    frame = emolens.results_frame(results)
    assert frame["text"].tolist() == texts
    assert frame["label"].tolist() == [r.label for r in results] == ["joy", "anger"]
    assert [c for c in frame if c.startswith("p_")] == [f"p_{x}" for x in CANONICAL]
    np.testing.assert_allclose(frame["p_joy"], [r.scores["joy"] for r in results])
    assert frame["language"].tolist() == ["en", "zh"]
    assert emolens.results_frame([]).empty
    with pytest.raises(InvalidInputError, match="Item 1 is str"):
        emolens.results_frame([results[0], "joy"])


def test_bytes_are_decoded_and_values_that_are_not_text_are_left_empty(caplog):
    frame = pd.DataFrame(
        {"body": ["气死我了，快递又丢了".encode(), b"\xff\xfe broken", True, ["list"],
                  {"a": 1}, "I love this so much, best day ever!"]},
        index=["a", "b", "c", "d", "e", "f"])
    with caplog.at_level(logging.WARNING):
        out = emolens.analyze_frame(frame, text_col="body")
    assert out.loc["a", "emotion"] == emolens.analyze("气死我了，快递又丢了").label == "anger"
    assert out.loc["a", "language"] == "zh"
    assert out.loc[["b", "c", "d", "e"]].iloc[:, 1:].isna().all().all()
    assert out.loc["f", "emotion"] == "joy"
    assert "3 of 6 rows have no text in 'body' (index c, d, e)" in caplog.text
    assert "1 of 6 rows of 'body' are bytes that are not UTF-8 (index b)" in caplog.text


def test_warnings_name_rows_by_index_label_and_by_position_when_labels_repeat(monkeypatch,
                                                                               caplog):
    monkeypatch.setenv("EMOLENS_MAX_TEXT_CHARS", "40")
    long = "I love this so much, best day ever! " * 3
    frame = pd.DataFrame({"body": [None, long, "so happy", None]},
                         index=["r0", "r1", "r2", "r2"])
    with caplog.at_level(logging.WARNING):
        out = emolens.analyze_frame(frame, text_col="body")
    assert out["emotion"].notna().tolist() == [False, True, True, False]
    assert "2 of 4 rows have no text in 'body' (index r0, r2 (iloc 3))" in caplog.text
    assert "1 of 4 rows of 'body' have more than 40 characters (index r1)" in caplog.text
    assert "Item" not in caplog.text


def test_results_frame_wants_a_list_and_keeps_uncertain_and_confidence():
    result = emolens.analyze("I love this so much, best day ever!")
    with pytest.raises(InvalidInputError, match=r"a list of results \(got one EmotionResult\)"):
        emolens.results_frame(result)
    with pytest.raises(InvalidInputError, match=r"a list of results \(got None\)"):
        emolens.results_frame(None)
    marked = emolens.analyze_batch(["I love this so much, best day ever!", "hmm, ok"],
                                   uncertain_below=0.99)
    frame = emolens.results_frame(marked)
    assert frame["uncertain"].tolist() == [False, True]  # as analyze_frame marks them
    assert "uncertain" not in emolens.results_frame([result])


def test_results_frame_gives_an_abstaining_models_result_its_confidence(tmp_path):
    model = NgramRecognizer(name="abstains", version="1", min_df=1, abstain_below=0.99)
    model.fit(["so boring, nothing happens", "yawn, dull lecture", "what a gripping talk",
               "I was hooked from the start"], ["bored", "bored", "engaged", "engaged"])
    results = emolens.analyze_batch(["dull and gripping"], model=model.save(tmp_path / "m"))
    assert results[0].label == "uncertain"
    frame = emolens.results_frame(results)
    assert frame.loc[0, "confidence"] == results[0].confidence == max(results[0].scores.values())
    assert frame["uncertain"].tolist() == [True]
