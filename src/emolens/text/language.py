"""English/Chinese detection by script. Cheap, deterministic and good enough to route a text."""

from __future__ import annotations

import re
from collections.abc import Sequence

from emolens.errors import InvalidInputError

LANGUAGES: tuple[str, ...] = ("en", "zh")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def chinese_share(text: str) -> float:
    """Share of the text's words that are Chinese (one Han character counts as one word)."""
    han = len(_CJK.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    return han / (han + latin) if han + latin else 0.0


def detect_language(text: str) -> str:
    """'zh' when Han characters outnumber Latin-script words, else 'en'.

    Mixed texts are allowed: "今天好开心 so happy" is 'zh', "I love 北京" is 'en'. Texts in
    other Latin-script languages come out as 'en', the closest model we have.
    """
    return "zh" if chinese_share(text) > 0.5 else "en"


def check_language(language: str | None) -> None:
    """InvalidInputError unless ``language`` is None (detect it) or one of ``LANGUAGES``."""
    if language is not None and language not in LANGUAGES:
        raise InvalidInputError(f"language must be one of {LANGUAGES}, got {language!r}")


def resolve_languages(texts: Sequence[str], languages: Sequence[str] | None) -> list[str]:
    """Each text's language: as given (one per text), or detected."""
    if languages is None:
        return [detect_language(t) for t in texts]
    if len(languages) != len(texts):
        raise InvalidInputError(f"Got {len(texts)} texts but {len(languages)} languages.")
    return list(languages)
