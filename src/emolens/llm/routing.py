"""Routing: the fast model reads every text, the LLM only those the fast model is unsure of.

Most texts are easy and the fast model's calibrated top probability says which: only texts
whose top probability is below ``threshold`` are sent to the LLM, whose scores then replace
the fast ones. A routed text that gets no valid answer keeps its fast scores, with the
failure named in its details (``llm_error``) and counted in ``stats_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError
from emolens.llm.outcome import Annotation, ItemFailure, RunStats
from emolens.llm.recognizer import LLMRecognizer, details
from emolens.text.base import ExplainingRecognizer, TextRecognizer
from emolens.text.language import resolve_languages


class RoutedRecognizer:
    """``fast`` for every text; ``llm`` for those whose fast top probability < ``threshold``."""

    def __init__(
        self, fast: TextRecognizer, llm: LLMRecognizer, threshold: float = 0.6,
        *, name: str = "llm-routed",
    ) -> None:
        check_same_labels(fast, llm.labels)
        if not 0.0 <= threshold <= 1.0:
            raise InvalidInputError(f"The routing threshold must be in [0, 1], got {threshold}")
        self.fast = fast
        self.llm = llm
        self.threshold = threshold
        self.labels = tuple(fast.labels)
        self.scheme = fast.scheme
        self.name = name
        self.version = f"{fast.name}@{fast.version}+{llm.version}<{threshold:g}"
        self._last: tuple[tuple[str, ...], tuple[str, ...], list[dict[str, Any]]] | None = None

    @property
    def stats_(self) -> RunStats:
        """The LLM's counts, with how many texts were routed and how many kept."""
        return self.llm.stats_

    def reset_stats(self) -> RunStats:
        """The counts so far; counting starts again from zero."""
        return self.llm.reset_stats()

    def route(self, probs: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows whose top probability is below the threshold."""
        return probs.max(axis=1) < self.threshold if len(probs) else np.zeros(0, dtype=bool)

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        """Fast scores, replaced by the LLM's for the routed texts that got an answer."""
        langs = resolve_languages(texts, languages)
        probs = np.asarray(self.fast.predict_proba(texts, langs), dtype=float).copy()
        routed = np.flatnonzero(self.route(probs))
        info: list[dict[str, Any]] = (
            self.fast.explain(texts, langs) if isinstance(self.fast, ExplainingRecognizer)
            else [{} for _ in texts]
        )
        info = [{**d, "routed": False, "fast_confidence": float(p)}
                for d, p in zip(info, probs.max(axis=1), strict=True)]
        outcomes = self.llm.annotate([texts[i] for i in routed], [langs[i] for i in routed])
        for i, outcome in zip(routed, outcomes, strict=True):
            if isinstance(outcome, ItemFailure):  # named by its place in this batch
                outcome = ItemFailure(int(i), outcome.excerpt, outcome.reason, outcome.attempts)
            info[i].update(details(outcome), routed=True)
            if isinstance(outcome, Annotation):
                probs[i] = [outcome.scores[label] for label in self.labels]
        self.llm.stats_.add(routed=len(routed), fast_only=len(texts) - len(routed))
        self._last = (tuple(texts), tuple(langs), info)
        return probs

    def explain(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per text: ``routed``, the fast ``fast_confidence``, and the LLM's details if routed."""
        langs = tuple(resolve_languages(texts, languages))
        if self._last is None or self._last[:2] != (tuple(texts), langs):
            self.predict_proba(texts, langs)
        assert self._last is not None
        return [dict(d) for d in self._last[2]]


def check_same_labels(fast: TextRecognizer, labels: Sequence[str]) -> None:
    """InvalidInputError unless the fast model scores the LLM's ``labels`` (in any order)."""
    if set(fast.labels) != set(labels):
        raise InvalidInputError(
            f"Routing needs one label set: the fast model ({fast.name}) scores "
            f"{list(fast.labels)} and the LLM is asked for {list(labels)}. Ask the LLM for the "
            "fast model's labels (--labels or EMOLENS_LLM_LABELS), pick a fast model with the "
            "LLM's labels (EMOLENS_LLM_FAST_MODEL), or leave routing out."
        )
