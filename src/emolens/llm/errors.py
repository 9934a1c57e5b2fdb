"""Errors of the LLM part. Each also inherits the built-in a caller would expect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from emolens.errors import EmolensError

if TYPE_CHECKING:
    from emolens.llm.outcome import ItemFailure

HOW_TO_CONFIGURE = (
    "set EMOLENS_LLM_BASE_URL to an OpenAI-compatible endpoint (for example "
    "http://127.0.0.1:11434/v1 for Ollama, http://127.0.0.1:8080/v1 for llama.cpp's server) "
    "and EMOLENS_LLM_MODEL to its model name (EMOLENS_LLM_API_KEY if it needs a key), or "
    "EMOLENS_LLM_GGUF to a local .gguf file (needs llama-cpp-python)"
)


class LLMNotConfiguredError(EmolensError, ValueError):
    """No LLM endpoint or model file is set."""

    def __init__(self, missing: str = "No LLM is configured") -> None:
        super().__init__(f"{missing}: {HOW_TO_CONFIGURE}.")


class LLMRequestError(EmolensError, ConnectionError):
    """The endpoint could not be reached or refused the request (after any retries)."""

    def __init__(self, message: str, retryable: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable  # False: every further request would fail the same way
        self.status = status  # the HTTP status of a refusal
        self.requests = 0  # HTTP requests that were made in vain, retries included
        self.retries = 0

    def add_requests(self, requests: int, retries: int) -> None:
        """Count requests made in vain (the run's statistics include them)."""
        self.requests += requests
        self.retries += retries


class LLMAnswerError(EmolensError, ValueError):
    """Some items got no valid answer after the allowed repairs and retries.

    ``failures`` names each item and why; the message lists the first few.
    """

    def __init__(self, failures: Sequence[ItemFailure], total: int) -> None:
        self.failures = list(failures)
        shown = "; ".join(str(f) for f in self.failures[:5])
        more = f"; and {len(self.failures) - 5} more" if len(self.failures) > 5 else ""
        super().__init__(
            f"The LLM gave no valid answer for {len(self.failures)} of {total} items: "
            f"{shown}{more}. Answers that were valid are cached, so running again asks only "
            "for these; route through the fast model (recognizer 'llm-routed') to keep its "
            "scores for them instead."
        )
