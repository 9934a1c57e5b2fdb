"""emolens: offline emotion recognition. Results describe *expressed* emotion, not inner states.

>>> import emolens
>>> r = emolens.analyze("I can't believe they cancelled my flight again")
>>> r.label, r.scores, r.valence, r.arousal, r.language
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from emolens.labels import CANONICAL
from emolens.types import EmotionResult

__version__ = "0.1.0"
__all__ = ["CANONICAL", "EmotionResult", "analyze", "analyze_batch", "load", "__version__"]


@lru_cache(maxsize=8)
def _analyzer(model: str):
    from emolens.pipeline import build_analyzer

    return build_analyzer(model)


def load(model: str | Path = "default"):
    """An Analyzer for a registered recognizer name or a model directory (loaded once, cached)."""
    return _analyzer(str(model))


def analyze(text: str, language: str | None = None, model: str | Path = "default") -> EmotionResult:
    """Emotion expressed in one text. ``language`` ('en'/'zh') is detected when not given."""
    return load(model).analyze_batch([text], language=language)[0]


def analyze_batch(
    texts: Sequence[str], language: str | None = None, model: str | Path = "default"
) -> list[EmotionResult]:
    """One result per text, same order; batched internally for speed."""
    return load(model).analyze_batch(list(texts), language=language)
