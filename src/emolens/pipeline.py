"""Analyzer: texts -> language -> recognizer -> canonical scores -> results."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

import numpy as np

from emolens import labels as L
from emolens.config import DEFAULT_BATCH_SIZE
from emolens.errors import InvalidInputError
from emolens.io.encoding import LONE_SURROGATE
from emolens.models import resolve_recognizer
from emolens.text.base import ExplainingRecognizer, TextRecognizer, normalise_rows
from emolens.text.language import LANGUAGES, check_language, detect_language
from emolens.types import EmotionResult

ProgressCallback = Callable[[int], None]
log = logging.getLogger(__name__)


def text_hash(text: str) -> str:
    """SHA-256 of the text, the identity of an item when its text is not stored."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


class Analyzer:
    """Runs one text recognizer over texts and reports results on the canonical labels."""

    def __init__(
        self,
        recognizer: TextRecognizer,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_chars: int = 100_000,
        map_to_canonical: bool | None = None,
        uncertain_below: float | None = None,
    ) -> None:
        if uncertain_below is not None and not 0.0 <= uncertain_below <= 1.0:
            raise InvalidInputError(f"uncertain_below must be in [0, 1], got {uncertain_below}")
        self.recognizer = recognizer
        self.batch_size = batch_size
        self.max_chars = max_chars
        # Results whose top probability is below this get details["uncertain"] = True.
        self.uncertain_below = uncertain_below
        # A trained model's own threshold (`emolens train --abstain-below`): below it the
        # label becomes "uncertain"; the scores are kept as they are.
        self.abstain_below: float | None = getattr(recognizer, "abstain_below", None)
        # A multi-label model's per-label thresholds (fitted on validation data when it was
        # trained): results list, in details["labels"], every own label at or above its own.
        self.label_thresholds: dict[str, float] | None = getattr(
            recognizer, "label_thresholds", None)
        # A model whose labels all have canonical counterparts reports canonical scores;
        # a model trained on a user's own labels reports those labels as they are.
        mappable = recognizer.scheme != "custom" and (
            recognizer.scheme in L.SCHEMES or L.is_mappable(recognizer.labels)
        )
        self.map_to_canonical = mappable if map_to_canonical is None else map_to_canonical
        self._matrix = (
            L.mapping_matrix(
                recognizer.labels, recognizer.scheme if recognizer.scheme in L.SCHEMES else None
            )
            if self.map_to_canonical
            else None
        )
        self.output_labels = L.CANONICAL if self.map_to_canonical else recognizer.labels
        self._warned_languages: set[str] = set()

    @property
    def model_id(self) -> str:
        """'name@version' of the recognizer, as stored with every result."""
        return f"{self.recognizer.name}@{self.recognizer.version}"

    def _check(self, text: object, index: int) -> str:
        if not isinstance(text, str):
            kind = "None" if text is None else f"of type {type(text).__name__}"
            raise InvalidInputError(
                f"Item {index} is {kind}, not a str; pass text as a string."
            )
        if len(text) > self.max_chars:
            log.warning("Item %d has %d characters; only the first %d are analysed "
                        "(max_text_chars).", index, len(text), self.max_chars)
            text = text[: self.max_chars]
        if LONE_SURROGATE.search(text):
            # No character: it cannot be encoded to be analysed or stored (JSON's "\ud800"
            # escape, or bytes decoded with surrogateescape).
            raise InvalidInputError(
                f"Item {index} has a lone surrogate (such as a \\ud800 escape or undecodable "
                "bytes), which is not a valid character; decode the text properly first."
            )
        return text

    def _warn_untrained(self, languages: set[str], trained: Sequence[str]) -> None:
        """Once per language: its texts are scored by a model that never saw that language
        (each such result also carries ``details["untrained_language"]``)."""
        for language in sorted(languages - self._warned_languages):
            log.warning("%s was trained on %s texts only; its scores for %s texts are guesses "
                        "(details['untrained_language']). Use a model trained on %s, such "
                        "as 'default'.", self.model_id, "/".join(trained), language, language)
            self._warned_languages.add(language)

    def probabilities(self, texts: Sequence[str], languages: Sequence[str]) -> np.ndarray:
        """Output-label probabilities for one batch (rows sum to 1)."""
        return self._output(self.recognizer.predict_proba(texts, languages))

    def _output(self, native: np.ndarray) -> np.ndarray:
        probs = native @ self._matrix if self._matrix is not None else native
        return normalise_rows(probs)

    def _labels_over_thresholds(self, native: np.ndarray) -> list[str]:
        """The model's own labels at or above their thresholds, likeliest first; at least the
        top one."""
        assert self.label_thresholds is not None
        own = self.recognizer.labels
        order = np.argsort(-native, kind="stable")
        chosen = [own[j] for j in order if native[j] >= self.label_thresholds.get(own[j], 0.5)]
        return chosen or [own[int(order[0])]]

    def analyze(self, text: str, language: str | None = None) -> EmotionResult:
        """The result for one text (``emolens.analyze`` with this model)."""
        return self.analyze_batch([text], language=language)[0]

    def analyze_batch(
        self,
        texts: Sequence[str],
        language: str | None = None,
        languages: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[EmotionResult]:
        """One result per text, in order, computed in batches of ``batch_size``."""
        return list(self.iter_results(texts, language, languages, progress))

    def iter_results(
        self,
        texts: Sequence[str],
        language: str | None = None,
        languages: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[EmotionResult]:
        """Like ``analyze_batch`` but yields each batch's results as soon as they are ready.

        Every text (and language) is checked before the first batch runs, so that a bad item
        far down the list stops the call before any work, not after it."""
        _check_sequence(texts)
        check_language(language)
        if languages is not None:
            if language is not None:
                raise InvalidInputError("Give language (one for all texts) or languages (one "
                                        "per text), not both.")
            if len(languages) != len(texts):
                raise InvalidInputError(f"Got {len(texts)} texts but {len(languages)} languages.")
            for i, lang in enumerate(languages):
                if lang not in LANGUAGES:
                    raise InvalidInputError(
                        f"Item {i}: language must be one of {LANGUAGES}, got {lang!r}")
        checked = [self._check(t, i) for i, t in enumerate(texts)]
        for start in range(0, len(checked), self.batch_size):
            batch = checked[start : start + self.batch_size]
            if languages is not None:
                langs = list(languages[start : start + len(batch)])
            else:
                langs = [language or detect_language(t) for t in batch]
            yield from self._results(batch, langs)
            if progress is not None:
                progress(len(batch))

    def _results(self, batch: list[str], langs: list[str]) -> list[EmotionResult]:
        native = self.recognizer.predict_proba(batch, langs)
        trained = getattr(self.recognizer, "trained_languages", None)
        if trained is not None:
            self._warn_untrained(set(langs) - set(trained), trained)
        probs = self._output(native)
        va = L.valence_arousal(probs) if self.map_to_canonical else None
        evidence = (
            self.recognizer.explain(batch, langs)
            if isinstance(self.recognizer, ExplainingRecognizer)
            else [{}] * len(batch)
        )
        results = []
        for i, text in enumerate(batch):
            scores = {
                label: float(p) for label, p in zip(self.output_labels, probs[i], strict=True)
            }
            details = evidence[i]
            if self.uncertain_below is not None and probs[i].max() < self.uncertain_below:
                details = {**details, "uncertain": True}  # a copy: evidence may share dicts
            if self.label_thresholds:
                details = {**details, "labels": self._labels_over_thresholds(native[i])}
            if trained is not None and langs[i] not in trained:
                details = {**details, "untrained_language": langs[i]}
            if not text.strip():  # nothing to read: the scores are the model's prior
                details = {**details, "empty": True}
            label = max(scores, key=scores.__getitem__)
            if self.abstain_below is not None and scores[label] < self.abstain_below:
                details = {**details, "uncertain": True, "top": label}
                label = "uncertain"
            results.append(
                EmotionResult(
                    label=label,
                    scores=scores,
                    valence=None if va is None else float(va[i, 0]),
                    arousal=None if va is None else float(va[i, 1]),
                    language=langs[i],
                    model=self.model_id,
                    text=text,
                    details=details,
                )
            )
        return results


def _check_sequence(texts: object) -> None:
    """InvalidInputError unless ``texts`` is an ordered collection of items."""
    if isinstance(texts, str):  # a str is a sequence too: it would give one result per letter
        raise InvalidInputError("analyze_batch takes a list of texts; for one text use "
                                "emolens.analyze(text) or analyze_batch([text]).")
    if isinstance(texts, Mapping):  # iterating a dict gives its keys, seldom what is meant
        raise InvalidInputError("analyze_batch takes a list of texts, not a dict; pass "
                                "list(d.values()) to analyse its values.")
    if isinstance(texts, AbstractSet):
        raise InvalidInputError("analyze_batch takes a list of texts, not a set, whose order "
                                "is undefined; pass a list so results come back in its order.")
    if not isinstance(texts, Sequence) and not hasattr(texts, "__len__"):
        raise InvalidInputError(f"analyze_batch takes a list of texts, got "
                                f"{'None' if texts is None else type(texts).__name__}.")


def build_analyzer(
    model: str | Path = "default", batch_size: int = DEFAULT_BATCH_SIZE, max_chars: int = 100_000,
    uncertain_below: float | None = None,
) -> Analyzer:
    """Analyzer for a registered recognizer name or a model directory."""
    return Analyzer(resolve_recognizer(model), batch_size=batch_size, max_chars=max_chars,
                    uncertain_below=uncertain_below)
