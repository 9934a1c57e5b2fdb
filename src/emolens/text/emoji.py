"""Emoji as evidence beside a text model that cannot read them.

MiniLM's WordPiece vocabulary maps most emoji to [UNK], and the training sets hold almost no
emoji-only posts (none in GoEmotions, dair-ai or SMP2020 dev), so "😭😭" came out neutral.
This wrapper mixes the emoji table of the lexicon recognizer into a model's canonical
probabilities, with a weight that grows with the emoji's share of the text: alone they
decide, beside a sentence they only nudge it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from emolens.labels import CANONICAL
from emolens.text.base import WrappedRecognizer
from emolens.text.language import resolve_languages
from emolens.text.lexicon_tables import EMOJI

# A text's emoji weigh n / (n + WORD_WEIGHT * words) of the result. 2 was chosen on the 124
# dev texts (GoEmotions dev, SMP2020 dev) that hold table emoji, over 0.1-4 and "off":
# top-label accuracy 0.742 -> 0.750, NLL 0.905 -> 0.883 (0.882 at 1, where accuracy fell).
WORD_WEIGHT = 2.0
# Even an emoji-only text keeps this share of the model's own reading (the table is coarse:
# "😭" is also laughter).
MODEL_SHARE = 0.2
_WORDS = re.compile(r"[^\W_]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=1)
def emoji_pattern() -> re.Pattern[str]:
    """Matches each emoji of the lexicon's emoji table (this module's and the lexicon's)."""
    # The table's emoji are single code points: one character class is far faster than an
    # alternation of ~100 strings, and this runs on every text.
    assert all(len(e) == 1 for e in EMOJI)
    return re.compile("[" + "".join(re.escape(e) for e in EMOJI) + "]")


def emoji_evidence(text: str) -> tuple[list[str], float]:
    """The table emoji in ``text`` and its word count without them (a Chinese character
    counts half a word: Chinese words average about two characters); no words are counted
    when there is no emoji."""
    found = emoji_pattern().findall(text)
    if not found:
        return found, 0.0
    rest = emoji_pattern().sub(" ", text)
    cjk = len(_CJK.findall(rest))
    latin = len(_WORDS.findall(_CJK.sub(" ", rest))) if cjk else len(_WORDS.findall(rest))
    return found, latin + cjk / 2


def emoji_share(n_emoji: int, words: float) -> float:
    """How much of the result the emoji decide: 1 for an emoji-only text."""
    return n_emoji / (n_emoji + WORD_WEIGHT * words) if n_emoji else 0.0


class EmojiAwareRecognizer(WrappedRecognizer):
    """``base`` (canonical labels), with each text's table emoji mixed in by their share."""

    STEP = "emoji1"
    CANONICAL_ONLY = True

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        langs = resolve_languages(texts, languages)
        probs = np.asarray(self.base.predict_proba(texts, langs), dtype=float)
        for i, text in enumerate(texts):
            found, words = emoji_evidence(text)
            if not found:
                continue
            table = np.zeros(len(CANONICAL))
            for emoji in found:
                table[CANONICAL.index(EMOJI[emoji])] += 1.0
            table /= table.sum()
            share = emoji_share(len(found), words)
            probs[i] = (1 - share) * probs[i] + share * (
                (1 - MODEL_SHARE) * table + MODEL_SHARE * probs[i])
        return probs

    def explain(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """The base's evidence (when it gives any), plus the table emoji that counted, with
        their emotion and share of the result."""
        out = self.base_evidence(texts, languages)
        for i, text in enumerate(texts):
            found, words = emoji_evidence(text)
            if found:
                out[i] = {**out[i], "emoji": {e: EMOJI[e] for e in dict.fromkeys(found)},
                          "emoji_share": round(emoji_share(len(found), words), 3)}
        return out
