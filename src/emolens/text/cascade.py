"""A fast recognizer first, a slower, better one only where the fast one is unsure.

Most posts are easy: an n-gram model is already confident and right about them. Sending
only the rest to a transformer keeps most of the transformer's accuracy at a fraction of
its cost. The per-language confidence thresholds are chosen on dev data (see
``recipes/cascade/choose.py``), never on test splits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from emolens.errors import InvalidInputError
from emolens.text.base import TextRecognizer
from emolens.text.ensemble import LanguageEnsemble
from emolens.text.language import resolve_languages


class CascadeRecognizer:
    """``fast`` for every text; ``accurate`` replaces it where fast's top probability is low.

    ``thresholds`` maps a language to the confidence below which its texts are escalated;
    a language without an entry uses ``default_threshold`` (1.0 escalates everything,
    0.0 nothing).
    """

    def __init__(
        self,
        fast: TextRecognizer,
        accurate: TextRecognizer,
        thresholds: Mapping[str, float],
        *,
        default_threshold: float = 1.0,
        name: str = "cascade",
        version: str = "1",
    ) -> None:
        if tuple(fast.labels) != tuple(accurate.labels):
            raise InvalidInputError(
                f"Cascade members must share one label set; got {fast.labels} and "
                f"{accurate.labels}"
            )
        self.fast = fast
        self.accurate = accurate
        self.thresholds = dict(thresholds)
        self.default_threshold = default_threshold
        self.labels = tuple(fast.labels)
        self.scheme = fast.scheme
        self.name = name
        self.version = version
        self.last_escalated_: float = 0.0  # share of the last batch sent to ``accurate``

    def escalate(self, probs: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        """Boolean mask of the rows whose fast prediction is not confident enough."""
        limits = np.array(
            [self.thresholds.get(lang, self.default_threshold) for lang in languages]
        )
        return probs.max(1) < limits if len(probs) else np.zeros(0, dtype=bool)

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        langs = resolve_languages(texts, languages)
        probs = np.asarray(self.fast.predict_proba(texts, langs), dtype=float).copy()
        hard = np.flatnonzero(self.escalate(probs, langs))
        if len(hard):
            batch, batch_langs = [texts[i] for i in hard], [langs[i] for i in hard]
            if isinstance(self.accurate, LanguageEnsemble):
                # The fast model is usually one of the ensemble's members: reuse its rows.
                probs[hard] = self.accurate.predict_proba(
                    batch, batch_langs, known=(self.fast, probs[hard])
                )
            else:
                probs[hard] = self.accurate.predict_proba(batch, batch_langs)
        self.last_escalated_ = len(hard) / len(texts) if len(texts) else 0.0
        return probs
