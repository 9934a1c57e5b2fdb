"""Long Chinese texts read in parts, so that one emotional sentence is not lost in them.

The models learnt from tweets, Reddit comments and Weibo posts, a few dozen words each. The
n-gram model reads a text as one bag of words, so in a long text a neutral stretch outweighs
the one furious sentence, and the cascade, confident in that reading, never asks the
encoders. On long Chinese texts built from SMP2020 dev posts (3 to 6 neutral posts, with one
emotional post among them in two texts of three; ``recipes/long_text/choose.py``),
``default`` read 94 % as neutral: macro-F1 0.272, accuracy 0.427.

So a Chinese text longer than ``LONG_CHARS`` characters is cut at sentence ends into parts of
at most ``PART_CHARS``, each part is read like a post, and the parts' distributions are averaged,
each weighted by its size times ``NEUTRAL_FLOOR + 1 - P(neutral)``. A text expresses an
emotion if a part of it does (as the datasets' annotators used "neutral": only where no
emotion is expressed), and a text whose parts all read neutral still comes out neutral. On
the texts above: macro-F1 0.397, accuracy 0.497. The cost, on the 1,018 real SMP2020 dev
posts longer than 60 characters (those over 160 are cut): 739 right instead of 740.

English texts are read whole: there, the encoders' own windows (``MiniLMRecognizer``, merged
the same way) did better than parts on the same kind of test (built from GoEmotions dev:
macro-F1 0.450 against 0.437 for parts of 40 words, and 0.372 for the first window alone).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from emolens.text.base import TextRecognizer, WrappedRecognizer
from emolens.text.language import resolve_languages

# Chinese characters per part: about one e5 window (128 pieces) and a long Weibo post. Parts
# of 60 did better on the built texts (macro-F1 0.424) but lost 28 of the 1,018 real long
# dev posts; 180 gained less (0.334). Chosen with NEUTRAL_FLOOR and LONG_CHARS by
# recipes/long_text/choose.py.
PART_CHARS = 120
# Only texts longer than this are cut. Weibo posts of 120 to 160 characters read a little
# better whole (cut at 120, 3 of the 1,018 real long dev posts came out worse; from 160 on,
# 1), while the built texts keep most of their gain (macro-F1 0.397 against 0.410).
LONG_CHARS = 160
# How much a part that reads all neutral still weighs, beside its size (with texts over 120
# cut, 0.02: macro-F1 0.415 on the built texts, 5 real posts lost; 0.1: 0.410, 3 lost; 0.3:
# 0.363, 2 lost).
NEUTRAL_FLOOR = 0.1

_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；…\n])")


def _size(text: str) -> int:
    """Characters that are not white space."""
    return len(text) - sum(map(text.count, " \t\n\r\u3000"))


def split_parts(text: str, language: str) -> list[str]:
    """A Chinese ``text`` longer than ``LONG_CHARS`` in parts of at most ``PART_CHARS``, cut
    at sentence ends where possible (a longer sentence in pieces of that size); a shorter
    text, or a text in another language, is one part, as given."""
    limit = PART_CHARS
    if language != "zh" or _size(text) <= max(limit, LONG_CHARS):
        return [text]
    parts: list[str] = []
    current, size = "", 0
    for sentence in _SENTENCE_END.split(text):
        n = _size(sentence)
        if not n:
            current += sentence
            continue
        if size and size + n > limit:
            parts.append(current)
            current, size = "", 0
        if n > limit:
            *whole, current = [sentence[i:i + limit] for i in range(0, len(sentence), limit)]
            parts += whole
            size = _size(current)
        else:
            current, size = current + sentence, size + n
    if size:
        parts.append(current)
    elif parts:
        parts[-1] += current
    return [p.strip() for p in parts]


def merge_parts(probs: np.ndarray, owner: np.ndarray, sizes: np.ndarray, n_texts: int,
                neutral: int | None) -> np.ndarray:
    """One distribution per text from its parts' rows (``owner[i]`` is row i's text): each
    part weighs ``size * (NEUTRAL_FLOOR + 1 - P(neutral))``, or its size alone where the
    labels have no neutral."""
    weights = np.asarray(sizes, dtype=np.float64)
    if neutral is not None:
        weights = weights * (NEUTRAL_FLOOR + 1.0 - probs[:, neutral])
    merged = np.zeros((n_texts, probs.shape[1]), dtype=np.float64)
    np.add.at(merged, owner, probs * weights[:, None])
    return merged / merged.sum(1, keepdims=True)


class LongTextRecognizer(WrappedRecognizer):
    """``base`` reading each text longer than one part in parts (``split_parts``), merged by
    ``merge_parts``; shorter texts go to ``base`` as they are."""

    STEP = "long1"

    def __init__(self, base: TextRecognizer, *, name: str | None = None,
                 version: str | None = None) -> None:
        super().__init__(base, name=name, version=version)
        self.neutral = self.labels.index("neutral") if "neutral" in self.labels else None

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        langs = resolve_languages(texts, languages)
        parts = [split_parts(t, lang) for t, lang in zip(texts, langs, strict=True)]
        if all(len(p) == 1 for p in parts):
            return self.base.predict_proba(texts, langs)
        counts = [len(p) for p in parts]
        owner = np.repeat(np.arange(len(texts)), counts)
        flat = [part for p in parts for part in p]
        flat_langs = [langs[i] for i in owner]
        probs = np.asarray(self.base.predict_proba(flat, flat_langs), dtype=np.float64)
        sizes = np.array([max(_size(p), 1) for p in flat])
        return merge_parts(probs, owner, sizes, len(texts), self.neutral)

    def explain(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """The base's evidence for each whole text, plus how many parts a long one was read in."""
        langs = resolve_languages(texts, languages)
        out = self.base_evidence(texts, langs)
        for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
            n = len(split_parts(text, lang))
            if n > 1:
                out[i] = {**out[i], "parts": n}
        return out
