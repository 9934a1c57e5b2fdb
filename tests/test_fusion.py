"""The fusion rule: weighted linear pooling with per-item reliabilities."""

from __future__ import annotations

import numpy as np
import pytest

from emolens.errors import InvalidInputError
from emolens.fusion import fuse, words_reliability

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
