"""Fusion: one canonical distribution from several modalities' distributions.

The rule is a weighted linear pool. Each modality m contributes its canonical distribution
p_m with weight w_m = base_m * reliability_m, and the fused distribution is
sum_m w_m p_m / sum_m w_m. Base weights are settings; reliabilities say how much a modality
had to go on in this item (for the words of a speech segment: ``min(1, words / 4)``, so a
one-word transcript counts a quarter and an empty one not at all). Every modality's own
scores stay in the result's ``details`` so a reader can see what each one said.

Why linear and not learned: no public dataset here labels the same utterances for both
voice and words (RAVDESS says two fixed neutral sentences in every emotion), so a learned
combiner would be fitted to one modality's silence. Linear pooling is the calibrated choice
when the modalities are roughly equally reliable and keeps the result explainable.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from emolens.errors import InvalidInputError

DEFAULT_WEIGHTS: dict[str, float] = {"voice": 0.5, "words": 0.5, "face": 0.5, "screen_text": 0.25}


def words_reliability(n_words: int, full_at: int = 4) -> float:
    """How much a transcript of ``n_words`` words (or Chinese characters / 2) counts, 0..1."""
    return max(0.0, min(1.0, n_words / full_at))


def fuse(
    distributions: Mapping[str, np.ndarray],
    weights: Mapping[str, float] | None = None,
    reliability: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Fused distribution and the normalised weight each modality got.

    ``distributions`` maps modality name -> probabilities over the same labels. A modality
    with no base weight in ``weights`` (or DEFAULT_WEIGHTS) is an error, so a typo cannot
    silently drop it. Modalities whose effective weight is 0 are left out; if all are 0,
    the plain mean of the given distributions is used.
    """
    if not distributions:
        raise InvalidInputError("fuse() needs at least one modality's distribution")
    base = {**DEFAULT_WEIGHTS, **(weights or {})}
    unknown = sorted(set(distributions) - set(base))
    if unknown:
        raise InvalidInputError(f"No fusion weight for modality {unknown}; known: {sorted(base)}")
    effective = {
        m: max(0.0, base[m]) * (1.0 if reliability is None else reliability.get(m, 1.0))
        for m in distributions
    }
    total = sum(effective.values())
    if total <= 0:
        effective = dict.fromkeys(distributions, 1.0)
        total = float(len(distributions))
    shares = {m: w / total for m, w in effective.items()}
    fused = sum(shares[m] * np.asarray(p, np.float64) for m, p in distributions.items())
    fused = np.clip(fused, 0.0, None)
    return fused / fused.sum(), shares
