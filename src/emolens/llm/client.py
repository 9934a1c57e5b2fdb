"""A client for OpenAI-compatible chat-completions endpoints, on httpx.

Works with any server that speaks ``POST {base_url}/chat/completions``: Ollama, vLLM,
llama.cpp's server, LM Studio, OpenAI, DeepSeek, Qwen/DashScope and others. It limits the
requests in flight, times each out, and retries 429, 5xx, timeouts and lost connections with
exponential back-off (honouring ``Retry-After``); other refusals (401, 404, ...) are not
retried, since every later request would fail the same way.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.llm.errors import LLMRequestError

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
BACKOFF_CAP = 30.0  # seconds; also the most a Retry-After header is obeyed for


@dataclass
class ChatReply:
    """One answer: its text, the endpoint's token counts, and what it took to get it."""

    content: str
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    retries: int = 0  # requests repeated after 429/5xx/timeouts
    requests: int = 1  # HTTP requests it took, retries and a refused response_format included
    schema_refused: bool = False  # response_format was refused and the request sent without it


@dataclass
class _Failed:
    """Why one attempt failed, in a way worth retrying."""

    problem: str
    retry_after: float | None = None  # seconds, from a Retry-After header
    unreachable: bool = False  # nothing answered at the address


class ChatClient(Protocol):
    """What the LLM recognizer needs from a model: one chat completion at a time."""

    identity: str  # endpoint + model + sampling, part of every cache key
    model: str

    def chat(
        self, messages: list[dict[str, str]], response_format: dict[str, Any] | None = None
    ) -> ChatReply: ...

    def close(self) -> None: ...


class OpenAICompatClient:
    """Chat completions from ``{base_url}/chat/completions`` (``base_url`` ends in /v1)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        concurrency: int = 4,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> None:
        try:
            import httpx
        except ImportError as exc:
            raise MissingExtraError("The LLM client", "llm") from exc
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"The LLM endpoint must be an http:// or https:// URL, got "
                f"{masked_url(base_url)!r} "
                "(EMOLENS_LLM_BASE_URL, e.g. http://127.0.0.1:11434/v1)"
            )
        self.base_url = base_url.rstrip("/")
        self.shown_url = masked_url(self.base_url)  # for messages: no password in them
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.identity = f"{self.base_url}|{model}|t={temperature}"
        self.schema_supported = True  # set False once the endpoint refuses response_format
        self._slots = threading.BoundedSemaphore(concurrency)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency),
            trust_env=False,  # an endpoint on loopback must not go through a proxy
        )
        self._httpx = httpx
        self._random = random.Random()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def chat(
        self, messages: list[dict[str, str]], response_format: dict[str, Any] | None = None
    ) -> ChatReply:
        """One completion of ``messages``; raises ``LLMRequestError`` when none can be had."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": False,
        }
        refused = None
        if response_format is not None and self.schema_supported:
            try:
                return self._post({**body, "response_format": response_format})
            except LLMRequestError as exc:
                if exc.retryable or exc.status not in (400, 422):
                    raise
                self.schema_supported, refused = False, exc  # JSON in plain text from now on
        try:
            reply = self._post(body)
        except LLMRequestError as exc:
            if refused is not None:
                exc.add_requests(refused.requests, refused.retries)
            raise
        if refused is not None:
            reply.schema_refused = True
            reply.requests += refused.requests
            reply.retries += refused.retries
        return reply

    def _post(self, body: dict[str, Any]) -> ChatReply:
        url = f"{self.base_url}/chat/completions"
        retries = 0
        while True:
            try:
                with self._slots:
                    outcome = self._attempt(url, body)
            except LLMRequestError as exc:  # refused: counted like any other request
                exc.add_requests(retries + 1, retries)
                raise
            if isinstance(outcome, ChatReply):
                outcome.requests, outcome.retries = retries + 1, retries
                return outcome
            if retries >= self.max_retries:
                suffix = f" (after {retries} retries)" if retries else ""
                # An endpoint that cannot be reached at all fails every item: stop the batch.
                exc = LLMRequestError(
                    f"{self.shown_url}/chat/completions: {outcome.problem}{suffix}",
                    retryable=not outcome.unreachable)
                exc.add_requests(retries + 1, retries)
                raise exc
            time.sleep(self._delay(retries, outcome.retry_after))
            retries += 1

    def _attempt(self, url: str, body: dict[str, Any]) -> ChatReply | _Failed:
        """The reply, or why this attempt failed in a way worth retrying."""
        httpx = self._httpx
        try:
            response = self._http.post(url, json=body)
        except httpx.TimeoutException:
            return _Failed(f"no answer within {self.timeout:g} s (EMOLENS_LLM_TIMEOUT)")
        except httpx.ConnectError as exc:
            return _Failed(f"cannot connect ({exc}); is the server running?", unreachable=True)
        except httpx.TransportError as exc:
            return _Failed(f"connection failed: {exc}")
        if response.status_code in RETRY_STATUS or response.status_code >= 500:
            return _Failed(f"HTTP {response.status_code}", _retry_after(response.headers))
        if response.status_code >= 400:
            raise _refusal(f"{self.shown_url}/chat/completions", response.status_code,
                           response.text)
        try:
            return _reply(response.json())
        except (ValueError, KeyError, IndexError, TypeError):
            return _Failed(f"the reply is not a chat completion: {response.text[:200]!r}")

    def _delay(self, retries: int, retry_after: float | None) -> float:
        delay = min(BACKOFF_CAP, self.backoff * 2**retries) * self._random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, BACKOFF_CAP))
        return delay


def _reply(data: dict[str, Any]) -> ChatReply:
    choice = data["choices"][0]
    content = choice["message"].get("content")
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    usage = {
        k: int(v) for k, v in (data.get("usage") or {}).items()
        if k in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(v, int)
    }
    return ChatReply(content or "", usage, choice.get("finish_reason"))


def masked_url(url: str) -> str:
    """``url`` with the password of any ``user:password@`` replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc))


def _retry_after(headers: Any) -> float | None:
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None  # absent, or an HTTP date: the back-off applies


def _refusal(url: str, status: int, text: str) -> LLMRequestError:
    hints = {
        401: "check EMOLENS_LLM_API_KEY",
        403: "check EMOLENS_LLM_API_KEY and what the key may use",
        404: "check EMOLENS_LLM_BASE_URL (it usually ends in /v1) and EMOLENS_LLM_MODEL",
    }
    hint = f"; {hints[status]}" if status in hints else ""
    return LLMRequestError(f"{url}: HTTP {status}: {text[:300]}{hint}", retryable=False,
                           status=status)
