"""Building the LLM recognizers from settings; the registry's ``llm`` and ``llm-routed``.

These factories are where settings meet components (like the CLI): the recognizers
themselves take every value as an argument.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from emolens.llm.cache import AnswerCache, default_cache_path
from emolens.llm.client import ChatClient, OpenAICompatClient, masked_url
from emolens.llm.errors import LLMNotConfiguredError
from emolens.llm.recognizer import LLMRecognizer
from emolens.llm.routing import RoutedRecognizer
from emolens.llm.settings import LLMSettings, load_llm_settings
from emolens.privacy import redaction_default


def build_client(settings: LLMSettings) -> ChatClient:
    """The chat client the settings name: a local GGUF file, else the endpoint."""
    if settings.llm_gguf:
        from emolens.llm.llamacpp import LlamaCppClient

        return LlamaCppClient(settings.llm_gguf, max_tokens=settings.llm_max_tokens,
                              temperature=settings.llm_temperature)
    if not settings.llm_base_url:
        raise LLMNotConfiguredError("No LLM endpoint is configured")
    if not settings.llm_model:
        raise LLMNotConfiguredError(
            f"No model name is set for {masked_url(settings.llm_base_url)}")

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return OpenAICompatClient(
        settings.llm_base_url, settings.llm_model, key,
        timeout=settings.llm_timeout, max_retries=settings.llm_max_retries,
        backoff=settings.llm_backoff, concurrency=settings.llm_concurrency,
        max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature,
    )


def describe_endpoint(settings: LLMSettings) -> str:
    """Where the LLM runs, fit to print and store: the URL without credentials or query, or
    the GGUF file."""
    if settings.llm_gguf:
        return f"gguf:{settings.llm_gguf}"
    parts = urlsplit(settings.llm_base_url or "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redaction_on(settings: LLMSettings) -> bool:
    """Redact before sending? As forced by ``llm_redact``, else unless nothing leaves the host."""
    if settings.llm_gguf:
        return bool(settings.llm_redact)  # a local file: nothing leaves the machine
    return redaction_default(settings.llm_base_url or "", settings.llm_redact)


def build_llm_recognizer(settings: LLMSettings) -> LLMRecognizer:
    """The LLM recognizer the settings describe (client, labels, redaction, cache)."""
    from emolens.labels import CANONICAL

    return LLMRecognizer(
        build_client(settings),
        labels=settings.llm_labels or CANONICAL,
        redact=redaction_on(settings),
        cache=AnswerCache(default_cache_path()) if settings.llm_cache else None,
        # llama.cpp always has grammar-constrained JSON; without it a small local model
        # rambles. Endpoints get it only when asked (not all of them accept it).
        json_schema=settings.llm_json_schema or bool(settings.llm_gguf),
        max_repairs=settings.llm_max_repairs,
        max_chars=settings.llm_max_chars,
        concurrency=settings.llm_concurrency,
    )


def build_routed_recognizer(settings: LLMSettings) -> RoutedRecognizer:
    """The fast model (``llm_fast_model``) first, the LLM below ``llm_route_below``."""
    from emolens.models import resolve_recognizer

    llm = build_llm_recognizer(settings)
    return RoutedRecognizer(resolve_recognizer(settings.llm_fast_model), llm,
                            settings.llm_route_below)


def llm(**overrides: Any) -> LLMRecognizer:
    """Zero-shot LLM over any OpenAI-compatible endpoint (EMOLENS_LLM_BASE_URL, _MODEL)."""
    return build_llm_recognizer(load_llm_settings(**overrides))


def llm_routed(**overrides: Any) -> RoutedRecognizer:
    """The default model first; the LLM only for texts it is unsure of (EMOLENS_LLM_*)."""
    return build_routed_recognizer(load_llm_settings(**overrides))
