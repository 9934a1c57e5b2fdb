"""Settings of the LLM part, declared once on top of the library's (same file, same order).

Environment variables are the field names in upper case with the ``EMOLENS_`` prefix, e.g.
``EMOLENS_LLM_BASE_URL``; the TOML config file takes the field names as keys.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from emolens.config import Settings, build_settings
from emolens.errors import InvalidInputError


class LLMSettings(Settings):
    """The library settings plus everything the LLM recognizer and routing read."""

    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, up to /v1 (e.g. http://127.0.0.1:11434/v1)."
    )
    llm_model: str | None = Field(None, description="Model name the endpoint knows.")
    llm_api_key: SecretStr | None = Field(
        None, description="Sent as 'Authorization: Bearer <key>' when set; never printed."
    )
    llm_gguf: str | None = Field(
        None, description="A local .gguf file run through llama-cpp-python instead of an "
        "endpoint (optional; llama-cpp-python is not installed by emolens)."
    )
    llm_timeout: float = Field(60.0, gt=0, description="Seconds one request may take.")
    llm_concurrency: int = Field(4, ge=1, description="Requests in flight at once.")
    llm_max_retries: int = Field(
        3, ge=0, description="Retries of a request after 429, 5xx, a timeout or a lost "
        "connection, with exponential back-off."
    )
    llm_backoff: float = Field(
        1.0, ge=0, description="First back-off in seconds; doubled at each retry (at most 30 s, "
        "or what Retry-After asks, up to 30 s)."
    )
    llm_max_repairs: int = Field(
        2, ge=0, description="Times an invalid answer (bad JSON, unknown label) is sent back "
        "to the model with what was wrong, before the item is reported as failed."
    )
    llm_json_schema: bool = Field(
        False, description="Ask for JSON-schema constrained output (response_format); "
        "falls back to JSON in plain text if the endpoint refuses it."
    )
    llm_redact: bool | None = Field(
        None, description="Replace emails, phone and ID numbers, URLs and @handles before "
        "sending. Default: on unless the endpoint is on loopback (localhost, 127.0.0.1, ::1)."
    )
    llm_cache: bool = Field(
        True, description="Keep valid answers in an SQLite file under the cache directory "
        "(EMOLENS_CACHE_DIR), so the same text is never paid for twice."
    )
    llm_max_chars: int = Field(
        4000, ge=1, description="Longer texts are cut to this many characters before sending."
    )
    llm_max_tokens: int = Field(512, ge=16, description="Most tokens one answer may take.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    llm_labels: list[str] | None = Field(
        None, description="Your own label set instead of the canonical one (JSON list in the "
        'env var, e.g. ["frustrated", "grateful", "confused"]).'
    )
    llm_route_below: float = Field(
        0.6, ge=0, le=1, description="Routing: texts whose fast-model top probability is below "
        "this go to the LLM ('llm-routed')."
    )
    llm_fast_model: str = Field(
        "default", description="Routing: the fast recognizer that reads every text first."
    )

    @field_validator("llm_labels")
    @classmethod
    def _label_set(cls, labels: list[str] | None) -> list[str] | None:
        from emolens.llm.recognizer import check_labels

        if labels is None:
            return None
        try:
            return list(check_labels(labels))  # [] is refused, not taken as "unset"
        except InvalidInputError:
            raise ValueError("a label set needs at least two distinct (in any case), "
                             "non-empty labels") from None

    def configured(self) -> bool:
        """True when an endpoint (with a model name) or a GGUF file is set."""
        return bool(self.llm_gguf or (self.llm_base_url and self.llm_model))


def load_llm_settings(**overrides: Any) -> LLMSettings:
    """LLM settings with CLI-level overrides (None values are ignored)."""
    return build_settings(LLMSettings, **overrides)
