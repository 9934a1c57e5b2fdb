"""Disgust in Chinese: the e5 probe learnt on English, asked about cued Chinese texts only."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import emolens
from emolens.cli import app
from emolens.errors import ModelFileError
from emolens.models import DISGUST_PROBE_FILE, E5_ZH_DIR
from emolens.registry import recognizers
from emolens.text.disgust import ChineseDisgustRecognizer, DisgustProbe, disgust_cues

DISGUSTED = [
    "真恶心，饭里吃出一只苍蝇",
    "他们的嘴脸真令人作呕",
    "这人太恶心了，令人作呕",
]


@pytest.mark.parametrize("text", DISGUSTED)
def test_chinese_disgust_is_read_as_disgust(text):
    # SMP2020, our only Chinese training data, has no disgust class: before the probe each
    # of these came out anger, with disgust at 0.00.
    r = emolens.analyze(text)
    assert r.language == "zh"
    assert r.label == "disgust", r.scores
    assert r.details["disgust_cues"]


def test_an_angry_chinese_post_without_a_cue_is_left_alone():
    r = emolens.analyze("他们又取消了我的航班，气死我了")
    assert r.label == "anger"
    assert r.scores["disgust"] < 0.01 and "disgust_cues" not in r.details


def test_a_cue_word_alone_does_not_decide():
    # 无语 ("speechless") is a disgust cue in the lexicon, but here it is exasperation at a
    # queue: the probe, not the word, decides.
    r = emolens.analyze("今天又无语了，排队排了两个小时")
    assert r.details["disgust_cues"] == ["无语"]
    assert r.label != "disgust" and r.scores["disgust"] < 0.2


def test_english_and_uncued_texts_get_exactly_the_base_scores():
    base = recognizers.create("ngram")
    probe = DisgustProbe.load(recognizers.create("e5-zh"), DISGUST_PROBE_FILE)
    wrapped = ChineseDisgustRecognizer(base, probe)
    texts = ["This is disgusting, there's a hair in my soup", "今天天气真好", "恶心死了[吐]"]
    langs = ["en", "zh", "zh"]
    before, after = base.predict_proba(texts, langs), wrapped.predict_proba(texts, langs)
    assert np.array_equal(before[:2], after[:2])
    assert after[2, 1] > before[2, 1] + 0.1  # disgust is column 1 of the canonical labels
    assert np.allclose(after.sum(1), 1.0)
    assert wrapped.version == f"{base.version}+zhdisgust1"


def test_cues_are_found_whole_and_in_order():
    assert disgust_cues("恶心死了[吐]，[鄙视]") == ["恶心", "[吐]", "[鄙视]"]
    assert disgust_cues("今天天气真好") == []


def test_a_broken_probe_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "probe.npz"
    broken.write_bytes(b"not an npz file")
    with pytest.raises(ModelFileError, match="probe.npz"):
        DisgustProbe.load(object(), broken)
    assert DISGUST_PROBE_FILE.parent == E5_ZH_DIR


def test_models_info_default_names_the_probe():
    data = json.loads(CliRunner().invoke(app, ["models", "info", "default", "--json"]).output)
    assert data["disgust_probe"] == str(DISGUST_PROBE_FILE)
    assert "+zhdisgust1+" in data["version"]
