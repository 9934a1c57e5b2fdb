"""CascadeRecognizer: the fast model's answer unless it is unsure, then the accurate one's."""

from __future__ import annotations

import numpy as np
import pytest

from emolens.errors import InvalidInputError
from emolens.registry import recognizers
from emolens.text.cascade import CascadeRecognizer

TEXTS = [
    "I am so happy today!",
    "This makes me furious",
    "hmm, ok",
    "The meeting is at 3 pm.",
    "今天太开心了[哈哈]",
    "气死我了，又被放鸽子",
    "嗯",
]


@pytest.fixture(scope="module")
def members():
    return recognizers.create("ngram"), recognizers.create("lexicon")


def test_thresholds_pick_rows_from_the_right_member(members) -> None:
    fast, accurate = members
    langs = ["en"] * 4 + ["zh"] * 3
    p_fast = fast.predict_proba(TEXTS, langs)
    p_accurate = accurate.predict_proba(TEXTS, langs)

    never = CascadeRecognizer(fast, accurate, {}, default_threshold=0.0)
    np.testing.assert_allclose(never.predict_proba(TEXTS, langs), p_fast)
    assert never.last_escalated_ == 0.0

    always = CascadeRecognizer(fast, accurate, {}, default_threshold=1.01)
    np.testing.assert_allclose(always.predict_proba(TEXTS, langs), p_accurate)
    assert always.last_escalated_ == 1.0

    # Middle: the English threshold sits between the fast model's confidences.
    en_conf = np.sort(p_fast[:4].max(1))
    cut = float((en_conf[1] + en_conf[2]) / 2)
    mixed = CascadeRecognizer(fast, accurate, {"en": cut, "zh": 0.0})
    out = mixed.predict_proba(TEXTS, langs)
    hard = (p_fast.max(1) < cut) & (np.arange(len(TEXTS)) < 4)
    assert hard.sum() == 2
    np.testing.assert_allclose(out[hard], p_accurate[hard])
    np.testing.assert_allclose(out[~hard], p_fast[~hard])
    assert mixed.last_escalated_ == pytest.approx(2 / len(TEXTS))
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-9)


def test_detects_languages_and_handles_empty(members) -> None:
    cascade = CascadeRecognizer(*members, {"en": 0.6, "zh": 0.6})
    assert cascade.predict_proba(TEXTS).shape == (len(TEXTS), len(cascade.labels))
    assert cascade.predict_proba([]).shape == (0, len(cascade.labels))


def test_members_must_share_labels(members, tiny_model_dir) -> None:
    from emolens.models import load_model_dir

    tiny = load_model_dir(tiny_model_dir)
    if tuple(tiny.labels) == tuple(members[0].labels):
        pytest.skip("the tiny model happens to use the canonical labels")
    with pytest.raises(InvalidInputError, match="label set"):
        CascadeRecognizer(members[0], tiny, {})


class _Counting:
    """A real recognizer that records the texts it is asked about."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.version = inner.name, inner.version
        self.labels, self.scheme = inner.labels, inner.scheme
        self.asked: list[str] = []

    def predict_proba(self, texts, languages=None):
        self.asked.extend(texts)
        return self.inner.predict_proba(texts, languages)


def test_fast_member_of_the_ensemble_is_not_asked_twice(members) -> None:
    from emolens.text.ensemble import LanguageEnsemble

    fast, other = _Counting(members[0]), members[1]
    blend = LanguageEnsemble({"en": [(other, 0.6), (fast, 0.4)], "zh": [(fast, 1.0)]})
    langs = ["en"] * 4 + ["zh"] * 3
    expected = LanguageEnsemble(
        {"en": [(other, 0.6), (members[0], 0.4)], "zh": [(members[0], 1.0)]}
    ).predict_proba(TEXTS, langs)

    cascade = CascadeRecognizer(fast, blend, {}, default_threshold=1.01)
    np.testing.assert_allclose(cascade.predict_proba(TEXTS, langs), expected)
    assert fast.asked == TEXTS  # once, by the cascade; the blend reused those rows
