"""Routing: the real default text model first, the LLM (a loopback server) only for unsure texts."""

from __future__ import annotations

import numpy as np
import pytest
from llm_fake import FakeLLM, Reply, answer

from emolens.errors import InvalidInputError
from emolens.labels import CANONICAL
from emolens.llm.client import OpenAICompatClient
from emolens.llm.recognizer import LLMRecognizer
from emolens.llm.routing import RoutedRecognizer
from emolens.pipeline import Analyzer
from emolens.registry import recognizers

TEXTS = [
    "I am so happy, this is wonderful!",
    "ok",
    "The meeting is at noon",
    "hmm, well I guess",
    "气死我了",
    "今天",
    "Thanks a lot for nothing.",
    "I love you so much",
]


@pytest.fixture(scope="module")
def fast():
    return recognizers.create("default")


@pytest.fixture
def fake():
    # Every routed text gets surprise 1.0: unlike any fast row, so replaced rows are visible.
    with FakeLLM(respond=lambda body: Reply(answer({"surprise": 1.0}))) as server:
        yield server


def llm(fake: FakeLLM, **kwargs) -> LLMRecognizer:
    return LLMRecognizer(OpenAICompatClient(fake.url, "fake", backoff=0.01), **kwargs)


def split_threshold(confidences: np.ndarray) -> float:
    """A threshold with half the texts below it and half above."""
    ordered = np.sort(confidences)
    middle = len(ordered) // 2
    assert ordered[middle - 1] < ordered[middle], "the texts need distinct confidences"
    return float(ordered[middle - 1] + ordered[middle]) / 2


def test_only_low_confidence_texts_go_to_the_llm(fast, fake):
    fast_probs = fast.predict_proba(TEXTS)
    confidence = fast_probs.max(axis=1)
    threshold = split_threshold(confidence)
    unsure = {t for t, c in zip(TEXTS, confidence, strict=True) if c < threshold}
    assert 0 < len(unsure) < len(TEXTS)

    routed = RoutedRecognizer(fast, llm(fake), threshold)
    probs = routed.predict_proba(TEXTS)

    assert sorted(fake.texts()) == sorted(unsure)  # each unsure text once, nothing else
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    for i, text in enumerate(TEXTS):
        if text in unsure:
            assert probs[i, CANONICAL.index("surprise")] == 1.0
        else:
            np.testing.assert_array_equal(probs[i], fast_probs[i])
    assert routed.stats_.routed == len(unsure)
    assert routed.stats_.fast_only == len(TEXTS) - len(unsure)
    assert routed.stats_.share_routed == pytest.approx(len(unsure) / len(TEXTS))
    assert "routed to the LLM" in routed.stats_.summary()


def test_results_say_which_texts_were_routed(fast, fake):
    threshold = split_threshold(fast.predict_proba(TEXTS).max(axis=1))
    routed = RoutedRecognizer(fast, llm(fake), threshold)
    results = Analyzer(routed).analyze_batch(TEXTS)
    asked = set(fake.texts())
    assert len(fake.requests) == len(asked)  # explain() after predict_proba() asked nothing new
    for result in results:
        assert result.details["routed"] is (result.text in asked)
        assert (result.details["fast_confidence"] < threshold) is result.details["routed"]
        if result.details["routed"]:
            assert result.label == "surprise" and "rationale" in result.details["llm"]
        else:
            assert "llm" not in result.details


def test_a_routed_text_without_an_answer_keeps_its_fast_scores(fast, fake):
    fake.script_for("ok", *[Reply("no JSON here")] * 3)
    routed = RoutedRecognizer(fast, llm(fake, max_repairs=2), threshold=1.0)  # route all
    fast_probs = fast.predict_proba(["I love you so much", "ok"])
    results = Analyzer(routed).analyze_batch(["I love you so much", "ok"])
    assert results[0].label == "surprise"
    assert results[1].scores == pytest.approx(dict(zip(CANONICAL, fast_probs[1], strict=True)))
    assert results[1].details["llm_error"].startswith("item 1 ('ok'): no valid answer")
    assert routed.stats_.failures == 1


@pytest.mark.parametrize(("threshold", "share"), [(0.0, 0.0), (1.0, 1.0)])
def test_threshold_ends(fast, fake, threshold, share):
    routed = RoutedRecognizer(fast, llm(fake), threshold)
    routed.predict_proba(TEXTS)
    assert routed.stats_.share_routed == share
    assert len(fake.requests) == int(share * len(TEXTS))


def test_label_sets_must_agree(fast, fake):
    with pytest.raises(InvalidInputError, match="one label set"):
        RoutedRecognizer(fast, llm(fake, labels=("frustrated", "grateful")))
