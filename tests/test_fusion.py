"""The fusion rule: weighted linear pooling with per-item reliabilities."""

from __future__ import annotations

import numpy as np
import pytest

from emolens.errors import InvalidInputError
from emolens.fusion import fuse, fuse_timeline, words_reliability
from emolens.labels import CANONICAL
from emolens.types import EmotionResult

ANGER = np.array([0.8, 0.05, 0.05, 0.02, 0.03, 0.02, 0.03])
JOY = np.array([0.02, 0.02, 0.02, 0.85, 0.03, 0.03, 0.03])


def test_equal_weights_average_the_distributions() -> None:
    fused, shares = fuse({"voice": ANGER, "words": JOY}, {"voice": 0.5, "words": 0.5})
    assert shares == {"voice": 0.5, "words": 0.5}
    assert np.allclose(fused, (ANGER + JOY) / 2)
    assert fused.sum() == pytest.approx(1.0)


def test_weights_and_reliability_shift_the_result() -> None:
    fused, shares = fuse({"voice": ANGER, "words": JOY}, {"voice": 0.25, "words": 0.75})
    assert fused.argmax() == 3 and shares["words"] == pytest.approx(0.75)
    # One spoken word is a quarter as reliable: now the voice wins.
    fused, shares = fuse(
        {"voice": ANGER, "words": JOY}, {"voice": 0.5, "words": 0.5},
        {"words": words_reliability(1)},
    )
    assert fused.argmax() == 0 and shares["voice"] == pytest.approx(0.8)


def test_zero_reliability_drops_a_modality_and_all_zero_falls_back_to_the_mean() -> None:
    fused, shares = fuse({"voice": ANGER, "words": JOY}, reliability={"words": 0.0})
    assert np.allclose(fused, ANGER / ANGER.sum()) and shares["words"] == 0.0
    fused, _ = fuse({"voice": ANGER, "words": JOY}, reliability={"voice": 0.0, "words": 0.0})
    assert np.allclose(fused, (ANGER + JOY) / 2)


def test_unknown_modality_or_nothing_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="No fusion weight"):
        fuse({"smell": ANGER})
    with pytest.raises(InvalidInputError):
        fuse({})


def test_words_reliability_grows_with_words_and_saturates() -> None:
    values = [words_reliability(n) for n in range(0, 8)]
    assert values[0] == 0.0 and values[4] == 1.0 and values[7] == 1.0
    assert values == sorted(values)


def _result(modality: str, top: str, t0: float, t1: float, **details) -> EmotionResult:
    scores = {x: (0.79 if x == top else 0.035) for x in CANONICAL}
    return EmotionResult(label=top, scores=scores, modality=modality, t_start=t0, t_end=t1,
                         details=details)


def test_timeline_windows_pool_the_modalities_present() -> None:
    joy = {x: (0.79 if x == "joy" else 0.035) for x in CANONICAL}
    anger = {x: (0.79 if x == "anger" else 0.035) for x in CANONICAL}
    results = [
        _result("face", "joy", 0.0, 0.2), _result("face", "joy", 0.2, 0.4),  # a smile, 0-0.4 s
        _result("speech", "anger", 0.5, 2.5, voice=anger, words=joy),  # said 0.5-2.5 s
        _result("screen_text", "sadness", 2.0, 3.0),  # a caption 2-3 s
        _result("text", "fear", None, None),  # untimed: ignored
    ]
    windows = fuse_timeline(results, window=1.0)
    assert [(w.t_start, w.t_end) for w in windows] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    first, second, third = windows
    assert set(first.details["modalities"]) == {"face", "voice", "words"}
    assert set(second.details["modalities"]) == {"voice", "words"}
    assert set(third.details["modalities"]) == {"voice", "words", "screen_text"}
    # Voice and words disagree equally in the second window: anger and joy tie for the top.
    assert second.scores["anger"] == pytest.approx(second.scores["joy"])
    assert first.label == "joy"  # face and words say joy, voice anger
    assert third.details["fusion_weights"]["screen_text"] == pytest.approx(0.25 / 1.25)
    for w in windows:
        assert sum(w.scores.values()) == pytest.approx(1.0) and w.modality == "fused"


def test_timeline_needs_a_positive_window_and_timed_results() -> None:
    assert fuse_timeline([_result("text", "joy", None, None)]) == []
    with pytest.raises(InvalidInputError):
        fuse_timeline([], window=0)
