"""LexiconRecognizer on real English and Chinese sentences, and its explanations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emolens.labels import CANONICAL
from emolens.pipeline import Analyzer
from emolens.registry import recognizers
from emolens.text import lexicon
from emolens.text.base import ExplainingRecognizer
from emolens.text.lexicon import LexiconRecognizer


@pytest.fixture(scope="module")
def lex() -> LexiconRecognizer:
    return LexiconRecognizer()


def top(recognizer: LexiconRecognizer, text: str, language: str | None = None) -> str:
    probs = recognizer.predict_proba([text], None if language is None else [language])
    return CANONICAL[int(probs[0].argmax())]


def words(recognizer: LexiconRecognizer, text: str) -> dict[str, list[str]]:
    return recognizer.explain([text])[0]["words"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am so happy today!", "joy"),
        ("This is disgusting 🤢", "disgust"),
        ("今天真开心[哈哈]", "joy"),
        ("气死我了", "anger"),
        ("I'm so scared of the dark", "fear"),
        ("Wow, I did not see that coming 😮", "surprise"),
        ("My dog died and I cried all night", "sadness"),
        ("我好害怕", "fear"),
        ("呜呜呜好难过[泪]", "sadness"),
        ("震惊！居然是这样", "surprise"),
        ("恶心死了[吐]", "disgust"),
        ("The meeting is at noon in room 4.", "neutral"),
        ("会议在下午三点开始。", "neutral"),
    ],
)
def test_real_sentences(lex, text, expected):
    assert top(lex, text) == expected


def test_negated_joy_is_not_joy(lex):
    for text in ["I am not happy at all", "I don't feel happy", "I don’t feel happy", "我不开心"]:
        assert top(lex, text) != "joy", text
        assert lex.explain([text])[0]["negated"], text
    # Denied joy leans to sadness (documented choice); a denied fear is simply dropped.
    assert top(lex, "我不开心") == "sadness"
    probs = lex.predict_proba(["I'm not afraid"])[0]
    assert CANONICAL[int(probs.argmax())] == "neutral"
    assert lex.explain(["I'm not afraid"])[0]["negated"] == ["not afraid"]


def test_negation_stops_at_the_clause(lex):
    evidence = lex.explain(["It was not easy, but I am happy"])[0]
    assert "happy" in evidence["words"]["joy"]
    assert top(lex, "It was not easy, but I am happy") == "joy"
    # Further than three words from the negator, a word counts again.
    assert "happy" in words(lex, "not one of us was really very happy")["joy"]


def test_explanations_name_the_words_that_fired(lex):
    assert "happy" in words(lex, "I am so happy today!")["joy"]
    assert {"disgusting", "🤢"} <= set(words(lex, "This is disgusting 🤢")["disgust"])
    assert {"开心", "[哈哈]"} <= set(words(lex, "今天真开心[哈哈]")["joy"])
    assert words(lex, "气死我了")["anger"] == ["气死"]
    evidence = lex.explain(["I am so happy today!"])[0]
    assert -1 <= evidence["intensity"] <= 1
    json.dumps(evidence, ensure_ascii=False)  # goes into EmotionResult.details as it is


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [("😂", "joy"), ("😍", "joy"), ("😭", "sadness"), ("😡", "anger"), ("😱", "fear"),
     ("😮", "surprise"), ("🤢", "disgust"), ("[怒]", "anger"), ("[抓狂]", "anger"),
     ("[衰]", "sadness"), ("[吃惊]", "surprise"), ("[吐]", "disgust"), ("[害怕]", "fear"),
     ("[心]", "joy"), ("[偷笑]", "joy"), ("[GOOD]", "joy")],
)  # fmt: skip
def test_emoji_and_weibo_emoticons(lex, symbol, expected):
    assert top(lex, f"ok {symbol}", "en") == expected
    assert top(lex, f"好的{symbol}", "zh") == expected


def test_tables_use_canonical_labels():
    for table in (lexicon.EN_WORDS, lexicon.ZH_WORDS, lexicon.EMOJI, lexicon.WEIBO):
        assert set(table.values()) <= set(CANONICAL)
    assert len(lexicon.WEIBO) >= 40


def test_scores_are_probabilities_with_neutral_as_the_default(lex):
    texts = ["", "hello there", "happy", "happy happy joy joy 😂😂", "今天", "开心"]
    probs = lex.predict_proba(texts)
    assert probs.shape == (len(texts), len(CANONICAL))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    neutral = CANONICAL.index("neutral")
    joy = CANONICAL.index("joy")
    assert probs[0].argmax() == neutral and probs[1].argmax() == neutral
    assert 0.3 < probs[2, joy] < 0.9  # one hit: joy on top, but far from certain
    assert probs[3, joy] > probs[2, joy]  # more evidence, more confidence
    assert probs[5].argmax() == joy


def test_languages_given_or_detected(lex):
    texts = ["I am so happy today!", "气死我了"]
    detected = lex.predict_proba(texts)
    np.testing.assert_allclose(detected, lex.predict_proba(texts, ["en", "zh"]))
    assert top(lex, "今天 so happy 哈哈哈", "zh") == "joy"  # English words inside Chinese


def test_no_io_before_first_use():
    for cached in (lexicon._nrc, lexicon._dutir, lexicon._english_hits, lexicon._chinese_hits):
        cached.cache_clear()
    recognizer = LexiconRecognizer()
    assert lexicon._nrc.cache_info().currsize == 0
    assert lexicon._dutir.cache_info().currsize == 0
    recognizer.predict_proba(["abandoned"], ["en"])  # an NRC word, not one of our table's
    assert lexicon._nrc.cache_info().currsize == 1
    assert lexicon._dutir.cache_info().currsize == 0  # Chinese is loaded only for Chinese


def test_registered_and_explains_through_the_pipeline():
    recognizer = recognizers.create("lexicon")
    assert isinstance(recognizer, ExplainingRecognizer)
    assert recognizer.scheme == "canonical" and recognizer.labels == CANONICAL
    results = Analyzer(recognizer).analyze_batch(["I am so happy today!", "气死我了"])
    assert [r.label for r in results] == ["joy", "anger"]
    assert "happy" in results[0].details["words"]["joy"]
    assert results[1].details["words"]["anger"] == ["气死"]
    assert results[0].model == "lexicon@" + recognizer.version
    results[1].to_dict()
