"""Traditional Chinese is read in Simplified form by default and accurate, and by the n-gram
model and the lexicon when picked alone."""

import numpy as np
import pytest

import emolens
from emolens.registry import recognizers
from emolens.text.chinese import SimplifiedChineseRecognizer, to_simplified

# (Traditional, Simplified, emotion): the same post in both scripts.
PAIRS = [
    ("今天真開心，終於放假了！", "今天真开心，终于放假了！", "joy"),
    ("氣死我了，航班又被取消", "气死我了，航班又被取消", "anger"),
    ("聽到這個消息我很難過", "听到这个消息我很难过", "sadness"),
    ("我好害怕明天的考試", "我好害怕明天的考试", "fear"),
]


@pytest.mark.parametrize(("traditional", "simplified", "emotion"), PAIRS)
def test_a_traditional_post_reads_as_its_simplified_twin(traditional, simplified, emotion):
    # Before, the n-gram model, trained on Simplified Weibo posts, saw few known characters:
    # 聽到這個消息我很難過 read sadness at 0.38.
    trad, simp = emolens.analyze_batch([traditional, simplified])
    assert trad.label == simp.label == emotion
    assert trad.text == traditional  # the result keeps the text as given
    assert np.allclose([trad.scores[k] for k in simp.scores], list(simp.scores.values()),
                       atol=1e-6)


def test_a_traditional_disgust_cue_is_found():
    r = emolens.analyze("真噁心，飯裡吃出一隻蒼蠅")
    assert r.label == "disgust" and r.details["disgust_cues"] == ["恶心"]


def test_conversion_touches_only_traditional_characters():
    assert to_simplified("後來發現這個") == "后来发现这个"
    for text in ("今天开心，吃了饭", "I'm so happy 😂", "[哈哈]太好了"):
        assert to_simplified(text) == text


@pytest.mark.parametrize("model", ["ngram", "lexicon"])
def test_models_picked_alone_read_traditional_too(model):
    # The lexicon's DUTIR words are Simplified: 氣死我了 and 真噁心 fired nothing (neutral 0.87).
    trad = emolens.analyze_batch(["氣死我了", "真噁心", "聽到這個消息我很難過"], model=model)
    simp = emolens.analyze_batch(["气死我了", "真恶心", "听到这个消息我很难过"], model=model)
    assert [r.label for r in trad] == [r.label for r in simp]
    assert trad[0].label == "anger" and trad[2].label == "sadness"
    assert all(r.model.endswith("+t2s1") for r in trad)
    if model == "lexicon":
        assert trad[1].label == "disgust"
        assert trad[1].details["words"] == {"disgust": ["恶心"]}


def test_english_texts_are_passed_through_unchanged():
    base = recognizers.create("ngram").base
    wrapped = SimplifiedChineseRecognizer(base)
    texts = ["I can't believe they cancelled my flight again", "what a lovely day"]
    assert np.array_equal(wrapped.predict_proba(texts, ["en", "en"]),
                          base.predict_proba(texts, ["en", "en"]))
    assert wrapped.version == f"{base.version}+t2s1" and wrapped.name == base.name
