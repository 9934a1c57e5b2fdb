"""One text, three readings side by side: the fast model, the lexicon words, the LLM.

``explain_text`` returns a JSON-safe dictionary; `emolens explain` renders it. Without an
LLM (``llm=None``) the fast model and lexicon parts are still given.
"""

from __future__ import annotations

from typing import Any

from emolens.llm.errors import HOW_TO_CONFIGURE, LLMRequestError
from emolens.llm.outcome import ItemFailure
from emolens.llm.recognizer import LLMRecognizer
from emolens.pipeline import Analyzer
from emolens.text.base import ExplainingRecognizer, TextRecognizer
from emolens.text.language import check_language, detect_language


def explain_text(
    text: str,
    fast: TextRecognizer,
    lexicon: ExplainingRecognizer,
    llm: LLMRecognizer | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """The fast model's scores, the lexicon words that fired, and the LLM's reading of ``text``.

    ``llm`` is the part that may fail: its error is reported under ``llm_error`` (the other
    parts are still given), and ``llm_status`` is 'ok', 'error' or 'not configured'.
    """
    language = language or detect_language(text)
    check_language(language)
    fast_result = Analyzer(fast).analyze_batch([text], languages=[language])[0]
    out: dict[str, Any] = {
        "text": text,
        "language": language,
        "fast": {
            "model": fast_result.model, "label": fast_result.label,
            "scores": fast_result.scores, "valence": fast_result.valence,
            "arousal": fast_result.arousal,
        },
        "lexicon": lexicon.explain([text], [language])[0],
        "llm": None,
        "llm_status": "not configured",
        "llm_error": None,
        "usage": None,
    }
    if llm is None:
        out["llm_error"] = f"No LLM is configured: {HOW_TO_CONFIGURE}."
        return out
    try:
        outcome = llm.annotate([text], [language])[0]
    except LLMRequestError as exc:
        outcome = ItemFailure(0, text[:40], str(exc))
    if isinstance(outcome, ItemFailure):
        out.update(llm_status="error", llm_error=str(outcome))
    else:
        out.update(llm_status="ok", llm={**outcome.to_dict(), "model": llm.version})
    out["usage"] = llm.stats_.to_dict()
    return out
