"""LLM analysis: zero-shot emotions with a rationale and quoted evidence, and routing.

>>> from emolens.llm import LLMRecognizer, OpenAICompatClient
>>> client = OpenAICompatClient("http://127.0.0.1:11434/v1", "qwen2.5:7b-instruct")
>>> LLMRecognizer(client).annotate(["Thanks for nothing, again."])[0].rationale

Or by name, configured by settings (EMOLENS_LLM_BASE_URL, EMOLENS_LLM_MODEL, ...):
``emolens.load("llm")`` and ``emolens.load("llm-routed")``. Needs the ``llm`` extra (httpx).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AnswerCache", "Annotation", "ItemFailure", "LLMRecognizer", "LLMSettings",
    "OpenAICompatClient", "RoutedRecognizer", "RunStats", "build_llm_recognizer",
    "build_routed_recognizer", "load_llm_settings",
]

_WHERE = {
    "AnswerCache": "emolens.llm.cache",
    "Annotation": "emolens.llm.outcome",
    "ItemFailure": "emolens.llm.outcome",
    "RunStats": "emolens.llm.outcome",
    "LLMRecognizer": "emolens.llm.recognizer",
    "LLMSettings": "emolens.llm.settings",
    "load_llm_settings": "emolens.llm.settings",
    "OpenAICompatClient": "emolens.llm.client",
    "RoutedRecognizer": "emolens.llm.routing",
    "build_llm_recognizer": "emolens.llm.factory",
    "build_routed_recognizer": "emolens.llm.factory",
}


def __getattr__(name: str) -> Any:  # imports on first use keep `import emolens` light
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_WHERE[name]), name)
