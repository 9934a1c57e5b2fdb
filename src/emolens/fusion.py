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

from collections.abc import Mapping, Sequence

import numpy as np

from emolens.errors import InvalidInputError
from emolens.labels import CANONICAL, valence_arousal
from emolens.types import EmotionResult

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


# Which distributions a stored result contributes to a timeline window, by its modality.
def _contributions(result: EmotionResult) -> dict[str, dict[str, float]]:
    if result.modality == "speech":
        parts = {"voice": result.details.get("voice"), "words": result.details.get("words")}
        found = {k: v for k, v in parts.items() if v}
        return found or {"voice": result.scores}  # read back from a store: fused only
    if result.modality in ("face", "screen_text"):
        return {result.modality: result.scores}
    return {}


def fuse_timeline(
    results: Sequence[EmotionResult],
    window: float = 1.0,
    weights: Mapping[str, float] | None = None,
    labels: Sequence[str] = CANONICAL,
) -> list[EmotionResult]:
    """One fused result per ``window`` seconds that any timed result overlaps.

    Within a window, each modality's distribution is the overlap-weighted mean of its
    results there (all faces in view count alike); the modalities are then pooled by
    ``fuse``. Each window's ``details`` keeps every modality's own scores.
    """
    if window <= 0:
        raise InvalidInputError(f"window must be positive, got {window}")
    timed = [r for r in results if r.t_start is not None and r.t_end is not None]
    if not timed:
        return []
    end = max(r.t_end for r in timed)
    windows: list[dict[str, list[tuple[float, np.ndarray]]]] = [
        {} for _ in range(int(np.ceil(end / window + 1e-9)) or 1)
    ]
    for r in timed:
        first = int(r.t_start // window)
        last = max(first, int(np.ceil(r.t_end / window)) - 1)
        for k in range(first, min(last, len(windows) - 1) + 1):
            a, b = k * window, (k + 1) * window
            overlap = max(min(b, r.t_end) - max(a, r.t_start), 1e-3 * window)
            for modality, scores in _contributions(r).items():
                vector = np.array([scores.get(label, 0.0) for label in labels], np.float64)
                windows[k].setdefault(modality, []).append((overlap, vector))
    fused_results = []
    for k, parts in enumerate(windows):
        if not parts:
            continue
        distributions = {}
        for modality, items in parts.items():
            total = sum(w for w, _ in items)
            mean = sum(w * v for w, v in items) / total
            distributions[modality] = mean / mean.sum()
        fused, shares = fuse(distributions, weights)
        scores = {label: float(p) for label, p in zip(labels, fused, strict=True)}
        va = valence_arousal(fused[None])[0] if tuple(labels) == CANONICAL else (None, None)
        fused_results.append(EmotionResult(
            label=max(scores, key=scores.__getitem__), scores=scores,
            valence=None if va[0] is None else float(va[0]),
            arousal=None if va[1] is None else float(va[1]),
            modality="fused", model="fusion", t_start=k * window, t_end=(k + 1) * window,
            details={
                "modalities": {
                    m: {label: round(float(p), 4) for label, p in zip(labels, d, strict=True)}
                    for m, d in distributions.items()
                },
                "fusion_weights": {m: round(v, 4) for m, v in shares.items()},
            },
        ))
    return fused_results
