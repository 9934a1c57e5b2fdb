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
