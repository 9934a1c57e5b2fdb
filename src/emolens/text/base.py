"""The contract every text recognizer implements, and helpers shared by them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TextRecognizer(Protocol):
    """Scores texts over a fixed label set.

    ``labels`` are canonical labels, or labels of ``scheme`` (a key of
    ``emolens.labels.SCHEMES``), or a user's own labels (``scheme = "custom"``), which are
    then reported as they are. ``predict_proba`` returns shape (n, len(labels)), rows sum to 1.
    ``languages`` gives each text's language ('en'/'zh') when the caller knows it.
    """

    name: str
    version: str
    labels: tuple[str, ...]
    scheme: str | None

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray: ...


@runtime_checkable
class ExplainingRecognizer(TextRecognizer, Protocol):
    """A recognizer that can also say why: evidence per text (e.g. lexicon words that fired)."""

    def explain(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[dict[str, Any]]: ...


class WrappedRecognizer:
    """A recognizer that reads texts through ``base`` with one step of its own (Traditional
    Chinese, emoji, disgust, long texts): same labels and scheme; its version is the base's
    plus ``STEP``, so stored results tell the two apart. ``CANONICAL_ONLY`` wrappers refuse a
    base with other labels."""

    STEP = ""
    CANONICAL_ONLY = False

    def __init__(self, base: TextRecognizer, *, name: str | None = None,
                 version: str | None = None) -> None:
        if self.CANONICAL_ONLY:
            from emolens.labels import CANONICAL

            if tuple(base.labels) != CANONICAL:
                raise ValueError(f"{type(self).__name__} needs canonical labels, got "
                                 f"{base.labels}")
        self.base = base
        self.labels = tuple(base.labels)
        self.scheme = base.scheme
        self.name = name or base.name
        self.version = version or f"{base.version}+{self.STEP}"

    @property
    def trained_languages(self) -> tuple[str, ...] | None:
        """The base's training languages, where it records them."""
        return getattr(self.base, "trained_languages", None)

    def base_evidence(self, texts: Sequence[str], languages: Sequence[str] | None
                      ) -> list[dict[str, Any]]:
        """The base's ``explain`` for ``texts`` where it has one, else an empty dict each."""
        if isinstance(self.base, ExplainingRecognizer):
            return self.base.explain(texts, languages)
        return [{} for _ in texts]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``, numerically stable."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def normalise_rows(scores: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Rows scaled to sum to 1; an all-zero row becomes uniform."""
    scores = np.maximum(np.asarray(scores, dtype=np.float64), floor)
    sums = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    return np.where(sums > 0, scores / np.where(sums > 0, sums, 1.0), uniform)
