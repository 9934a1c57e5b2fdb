"""Hashed word and character n-gram features for English and Chinese text.

Hashing keeps memory and model size fixed whatever the vocabulary, and needs no vocabulary
file: the same text gives the same feature indices on every machine.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache, partial

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

# Words, single emoji/punctuation marks (so "!!!" and emoji count), Weibo emoticons "[哈哈]".
_EN_TOKEN = re.compile(r"\[[^\[\]\s]{1,8}\]|[a-z0-9]+(?:'[a-z]+)?|[^\w\s]", re.UNICODE)
_WEIBO_EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")
_NEGATORS = frozenset(
    "not no never nothing nobody none nor cannot can't don't doesn't didn't isn't aren't "
    "wasn't weren't won't wouldn't shouldn't couldn't haven't hasn't hadn't without "
    # the same without apostrophes, as in lower-cased, punctuation-free tweets
    "cant dont doesnt didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt havent "
    "hasnt hadnt aint".split()
)
_CLAUSE_END = frozenset(".,;:!?")
_NEGATION_SCOPE = 3
_ZH_NEGATORS = ("不", "没", "别", "无", "非", "未")


# Typographic quotes (phones type them) and their common UTF-8-read-as-cp1252 mojibake read
# as the plain ASCII quote, so "you’re" and "you're" are the same word.
_MOJIBAKE = {"\u00e2\u0080\u0099": "'", "\u00e2\u0080\u0098": "'", "\u00e2\u0080\u009c": '"',
             "\u00e2\u0080\u009d": '"', "\u00e2\u0080\u0094": "-", "\u00e2\u0080\u00a6": "..."}
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                         "\u0092": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"'})


def normalise(text: str) -> str:
    """NFKC, plain quotes, lower case, collapsed white space; emoji and Chinese punctuation kept."""
    if "\u00e2\u0080" in text:
        for bad, good in _MOJIBAKE.items():
            text = text.replace(bad, good)
    text = unicodedata.normalize("NFKC", text.translate(_QUOTES)).lower()
    return " ".join(text.split())


_EN_PIECE = re.compile(r"[a-z0-9']+|\s+|[^\sa-z0-9']+")


def _is_negator(word: str) -> bool:
    return word in _NEGATORS or word.endswith("n't")


def mark_negated_words(text: str) -> str:
    """Upper-case the words in a negation's scope ("not happy at all" -> "not HAPPY AT ALL").

    Input is normalised (lower case), so the character n-grams of a negated word become
    features of their own instead of voting for the word's usual emotion.
    """
    pieces: list[str] = []
    scope = 0
    for piece in _EN_PIECE.findall(text):
        if piece.isspace():
            pass
        elif _is_negator(piece):
            scope = _NEGATION_SCOPE
        elif any(ch in _CLAUSE_END for ch in piece):
            scope = 0
        elif scope and piece[0].isalnum():
            scope -= 1
            piece = piece.upper()
        pieces.append(piece)
    return "".join(pieces)


def english_tokens(text: str) -> list[str]:
    """Word unigrams and bigrams; words after a negator are marked ("not happy": neg_happy)."""
    words = _EN_TOKEN.findall(text)
    marked: list[str] = []
    scope = 0
    for word in words:
        if word in _CLAUSE_END:
            scope = 0
            marked.append(word)
        elif _is_negator(word):
            scope = _NEGATION_SCOPE
            marked.append(word)
        elif scope:
            scope -= 1
            marked.append("neg_" + word)
        else:
            marked.append(word)
    bigrams = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return marked + bigrams


@lru_cache(maxsize=1)
def jieba_segmenter():  # jieba has no type hints
    """The jieba module, set up once; it builds its dictionary on first use (~1 s)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


# Chinese word segmenters an n-gram model can be trained with; a model keeps the one it was
# trained with. "jieba-rs" (rjieba, jieba's algorithm and dictionary in Rust) cuts Weibo posts
# about 20x faster; 3 % of SMP2020 posts come out differently, mostly digits and Latin letters
# around a hyphen ("1-2" whole instead of "1", "-", "2").
SEGMENTERS = ("jieba", "jieba-rs")
DEFAULT_SEGMENTER = "jieba-rs"


def checked_segmenter(segmenter: str) -> str:
    """``segmenter`` if it is one of ``SEGMENTERS``; else ValueError."""
    if segmenter not in SEGMENTERS:
        raise ValueError(f"Unknown Chinese segmenter {segmenter!r}; known: {SEGMENTERS}")
    return segmenter


def segment(text: str, segmenter: str = "jieba") -> list[str]:
    """``text`` cut into words by ``segmenter`` (one of ``SEGMENTERS``)."""
    if checked_segmenter(segmenter) == "jieba-rs":
        import rjieba

        return rjieba.cut(text)
    return jieba_segmenter().lcut(text)


def chinese_tokens(text: str, segmenter: str = "jieba") -> list[str]:
    """Words, word bigrams, Weibo emoticons as whole tokens, and negated words marked."""
    emoticons = _WEIBO_EMOTICON.findall(text)
    plain = _WEIBO_EMOTICON.sub(" ", text)
    words = [w for w in segment(plain, segmenter) if w.strip()]
    negated = [
        "neg_" + nxt
        for prev, nxt in zip(words, words[1:], strict=False)
        if prev.startswith(_ZH_NEGATORS) and len(prev) <= 2
    ]
    bigrams = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return words + bigrams + negated + ["emo:" + e for e in emoticons]


class NgramFeaturizer:
    """Turns texts of one language into a sparse count matrix of hashed n-grams."""

    def __init__(self, language: str, n_features: int = 2**18, segmenter: str = "jieba") -> None:
        checked_segmenter(segmenter)  # fail at construction, not at the first Chinese text
        self.language = language
        self.n_features = n_features
        word_analyzer = (partial(chinese_tokens, segmenter=segmenter) if language == "zh"
                         else english_tokens)
        self._words = HashingVectorizer(
            n_features=n_features, analyzer=word_analyzer, alternate_sign=False, norm=None
        )
        self._chars = HashingVectorizer(
            n_features=n_features,
            analyzer="char" if language == "zh" else "char_wb",
            ngram_range=(1, 3) if language == "zh" else (2, 5),
            alternate_sign=False,
            norm=None,
            lowercase=False,
        )

    @property
    def dim(self) -> int:
        """Number of columns of the output matrix."""
        return 2 * self.n_features

    def transform(self, texts: Sequence[str] | Iterable[str]) -> sp.csr_matrix:
        """Count matrix (n, 2 * n_features): word features first, then character features."""
        cleaned = [normalise(t) for t in texts]
        if not cleaned:
            return sp.csr_matrix((0, self.dim), dtype=np.float64)
        for_chars = cleaned if self.language == "zh" else [mark_negated_words(t) for t in cleaned]
        return sp.hstack(
            [self._words.transform(cleaned), self._chars.transform(for_chars)], format="csr"
        )
