"""Chinese word segmenters of the n-gram model: a model reads Chinese as it was trained to."""

from __future__ import annotations

import json
import shutil

import pytest

from emolens.models import DEFAULT_MODEL_DIR
from emolens.text.features import NgramFeaturizer, chinese_tokens, segment
from emolens.text.ngram import NgramRecognizer

POSTS = ["公司年会发了1-2万现金奖，太开心了", "气死我了，快递又丢了[怒]", "呜呜呜，好难过"]


def test_both_segmenters_cut_plain_chinese_alike_and_differ_on_hyphens():
    assert segment("我来到北京清华大学", "jieba") == segment("我来到北京清华大学", "jieba-rs") \
        == ["我", "来到", "北京", "清华大学"]
    assert "1-2" in segment("1-2万", "jieba-rs")
    assert "1-2" not in segment("1-2万", "jieba")
    assert "emo:[怒]" in chinese_tokens("气死我了[怒]", "jieba-rs")


def test_an_unknown_segmenter_is_refused():
    with pytest.raises(ValueError, match="segmenter"):
        NgramFeaturizer("zh", segmenter="pkuseg")


def test_the_shipped_model_uses_jieba_rs():
    model = NgramRecognizer.load(DEFAULT_MODEL_DIR)
    assert model.segmenter == "jieba-rs"
    assert model.predict_proba(POSTS, ["zh"] * 3).argmax(1).tolist() == [
        model.labels.index(label) for label in ("joy", "anger", "sadness")]


def test_a_model_saved_before_segmenters_were_recorded_reads_with_jieba(tiny_model_dir, tmp_path):
    # Models trained by earlier versions were cut by jieba, and their files do not say so.
    old = tmp_path / "old"
    shutil.copytree(tiny_model_dir, old)
    meta_file = old / "emolens-model.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    assert meta["params"].pop("segmenter") == "jieba-rs"  # what new trainings write
    meta_file.write_text(json.dumps(meta), encoding="utf-8")

    loaded = NgramRecognizer.load(old)
    assert loaded.segmenter == "jieba"
    words = loaded._featurizer("zh")._words.analyzer("1-2万现金")
    assert words[:3] == ["1", "-", "2"]
