"""Weighted per-language ensembles of recognizers that share one label set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from emolens.errors import InvalidInputError
from emolens.text.base import TextRecognizer, normalise_rows
from emolens.text.language import resolve_languages

Members = Sequence[tuple[TextRecognizer, float]]


class LanguageEnsemble:
    """Per language, a weighted mean of its members' probabilities (weights need not sum to 1).

    A language without members of its own uses the first language's members.
    """

    def __init__(self, members: Mapping[str, Members], name: str = "ensemble",
                 version: str = "1") -> None:
        if not members or not all(members.values()):
            raise InvalidInputError("An ensemble needs at least one member per language given.")
        everyone = [rec for group in members.values() for rec, _ in group]
        labels = everyone[0].labels
        if any(rec.labels != labels for rec in everyone):
            found = sorted({tuple(rec.labels) for rec in everyone})
            raise InvalidInputError(f"Ensemble members must share one label set; got {found}")
        self.members = {lang: list(group) for lang, group in members.items()}
        self.labels = tuple(labels)
        self.scheme = everyone[0].scheme
        self.name = name
        self.version = version

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None,
        *, known: tuple[TextRecognizer, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Weighted mean of the members' probabilities for each text's language.

        ``known`` is a member and its probabilities for ``texts`` (one row each, for the same
        languages), computed already by the caller: that member is not asked again. A cascade
        whose fast model is also a member of its ensemble saves a second pass that way.
        """
        langs = np.array(resolve_languages(texts, languages), dtype=object)
        out = np.zeros((len(texts), len(self.labels)))
        fallback = next(iter(self.members))
        for language in (np.unique(langs) if len(texts) else []):
            rows = np.flatnonzero(langs == language)
            batch = [texts[i] for i in rows]
            batch_langs = [language] * len(rows)
            for recognizer, weight in self.members.get(language, self.members[fallback]):
                if known is not None and recognizer is known[0]:
                    out[rows] += weight * known[1][rows]
                else:
                    out[rows] += weight * recognizer.predict_proba(batch, batch_langs)
        return normalise_rows(out)
