"""Disgust in Chinese texts, learnt from English through the multilingual encoder.

SMP2020-EWECT, our only Chinese training data, has no disgust class (it files disgust under
angry), so the Chinese models could never say "disgust": "真恶心，饭里吃出一只苍蝇" came
out anger 0.91. multilingual-e5 places sentences of like meaning in both languages near each
other, so a logistic-regression "disgust vs the rest" probe fitted on English GoEmotions
comments, over the pooled features of the shipped ``e5-zh`` encoder, carries over to
Chinese (``recipes/e5_zh/disgust_probe.py``).

The probe runs only on Chinese texts holding a disgust cue (the lexicon's disgust words and
Weibo emoticons, e.g. 恶心, 作呕, [吐]): about 2 % of Weibo posts, so it costs little, and
a post that merely mentions 垃圾 (rubbish) keeps its reading unless the probe agrees. Its
probability ``q`` of disgust takes that share of the result: ``(1 - q) * p + q * disgust``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ModelFileError
from emolens.labels import CANONICAL
from emolens.text.base import TextRecognizer, WrappedRecognizer
from emolens.text.language import resolve_languages
from emolens.text.lexicon_tables import WEIBO, ZH_WORDS

DISGUST = CANONICAL.index("disgust")


@lru_cache(maxsize=1)
def cue_pattern() -> re.Pattern[str]:
    """Matches the lexicon's Chinese disgust words and Weibo disgust emoticons."""
    cues = [w for w, e in ZH_WORDS.items() if e == "disgust"]
    cues += [w for w, e in WEIBO.items() if e == "disgust"]
    # Longest first, so that "[鄙视]" is reported whole rather than as 鄙视.
    return re.compile("|".join(re.escape(c) for c in sorted(cues, key=len, reverse=True)))


def disgust_cues(text: str) -> list[str]:
    """The disgust cues in ``text``, in order of appearance (Weibo emoticons lower-cased)."""
    return cue_pattern().findall(text.lower())


class DisgustProbe:
    """Logistic regression over an encoder's pooled features: P(disgust | text)."""

    def __init__(self, encoder: Any, weights: np.ndarray, bias: float) -> None:
        self.encoder = encoder
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)

    @classmethod
    def load(cls, encoder: Any, path: str | Path) -> DisgustProbe:
        try:
            with np.load(path) as data:
                weights, bias = data["weights"], float(data["bias"])
        except (OSError, KeyError, ValueError) as exc:
            raise ModelFileError(f"{path} is not a valid disgust probe: {exc}") from exc
        return cls(encoder, weights, bias)

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        features = np.asarray(self.encoder.embed(list(texts)), dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-(features @ self.weights + self.bias)))


class ChineseDisgustRecognizer(WrappedRecognizer):
    """``base`` (canonical labels), with disgust read by ``probe`` in cued Chinese texts."""

    STEP = "zhdisgust1"
    CANONICAL_ONLY = True

    def __init__(self, base: TextRecognizer, probe: DisgustProbe, *, name: str | None = None,
                 version: str | None = None) -> None:
        super().__init__(base, name=name, version=version)
        self.probe = probe

    def _cued(self, texts: Sequence[str], languages: Sequence[str]) -> list[int]:
        return [i for i, (text, lang) in enumerate(zip(texts, languages, strict=True))
                if lang == "zh" and cue_pattern().search(text.lower())]

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        langs = resolve_languages(texts, languages)
        probs = np.asarray(self.base.predict_proba(texts, langs), dtype=float)
        cued = self._cued(texts, langs)
        if cued:
            share = self.probe.proba([texts[i] for i in cued])[:, None]
            probs[cued] *= 1.0 - share
            probs[cued, DISGUST] += share[:, 0]
        return probs

    def explain(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """The base's evidence, plus the disgust cues that sent a Chinese text to the probe."""
        langs = resolve_languages(texts, languages)
        out = self.base_evidence(texts, langs)
        for i in self._cued(texts, langs):
            out[i] = {**out[i], "disgust_cues": list(dict.fromkeys(disgust_cues(texts[i])))}
        return out
