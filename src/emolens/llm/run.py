"""Analysing a list of texts with the LLM (alone or routed), keeping every failure named."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emolens.llm.outcome import ItemFailure, RunStats
from emolens.llm.recognizer import LLMRecognizer
from emolens.llm.routing import RoutedRecognizer
from emolens.pipeline import Analyzer
from emolens.text.language import resolve_languages
from emolens.types import EmotionResult


@dataclass
class LLMRun:
    """Results in input order, the items the LLM could not read, and the run's counts.

    With routing every text has a result (a failed one keeps its fast scores); with the LLM
    alone a failed text has none, and only its failure says what happened.
    """

    results: list[EmotionResult]
    failures: list[str]
    stats: RunStats


def analyze_with_llm(
    recognizer: LLMRecognizer | RoutedRecognizer, texts: Sequence[str],
    language: str | None = None,
) -> LLMRun:
    """Results for ``texts`` from ``recognizer``; its counts start from zero for the run."""
    texts = list(texts)
    langs = resolve_languages(texts, [language] * len(texts) if language else None)
    recognizer.reset_stats()
    analyzer = Analyzer(recognizer)
    if isinstance(recognizer, RoutedRecognizer):
        results = analyzer.analyze_batch(texts, languages=langs)
        failures = [r.details["llm_error"] for r in results if "llm_error" in r.details]
    else:
        outcomes = recognizer.annotate(texts, langs)  # kept, so the analyzer asks nothing
        ok = [i for i, o in enumerate(outcomes) if not isinstance(o, ItemFailure)]
        results = analyzer.analyze_batch([texts[i] for i in ok],
                                         languages=[langs[i] for i in ok])
        failures = [str(o) for o in outcomes if isinstance(o, ItemFailure)]
    stats = recognizer.reset_stats()
    stats.texts = len(texts)
    return LLMRun(results, failures, stats)
