"""Who is calling: API keys from the request headers, and a token bucket per key."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

from fastapi import HTTPException, Request

from emolens.server.keys import KeyStore


class AuthError(Exception):
    """A request without a valid key (status 401) or over its rate (429)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    def to_http(self) -> HTTPException:
        """The same refusal as an HTTP error with the headers clients expect."""
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return HTTPException(self.status, self.message, headers=headers)


class RateLimiter:
    """One token bucket per caller: ``rate`` requests per second, ``burst`` at once."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, caller: str) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until a token is there."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / self.rate


def token_from(headers: Mapping[str, str]) -> str | None:
    """The key in ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, if any."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


class Authenticator:
    """Checks keys (when auth is on) and rates; returns the caller's name for the limiter."""

    def __init__(self, keys: KeyStore, limiter: RateLimiter, required: bool) -> None:
        self.keys = keys
        self.limiter = limiter
        self.required = required

    def identify(self, headers: Mapping[str, str], client_host: str | None) -> str:
        """The caller (a key id, or the client address when auth is off); raises AuthError."""
        if not self.required:
            return f"client:{client_host or '?'}"
        token = token_from(headers)
        if token is None:
            raise AuthError(
                401, "API key missing: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
                "(create one with `emolens keys create`)."
            )
        key = self.keys.verify(token)
        if key is None:
            raise AuthError(401, "API key not valid or revoked.")
        return f"key:{key.id}"

    def admit(self, caller: str) -> None:
        """Raise AuthError(429) when the caller is over its rate."""
        wait = self.limiter.take(caller)
        if wait > 0:
            raise AuthError(
                429, f"Rate limit exceeded ({self.limiter.rate:g} requests/s, burst "
                f"{self.limiter.burst}); retry in {wait:.2f} s.", retry_after=wait,
            )


def require_key(request: Request) -> str:
    """FastAPI dependency of every /v1 route: the caller, or 401/429 (runs in the threadpool)."""
    auth: Authenticator = request.app.state.service.auth
    client = request.client.host if request.client else None
    try:
        caller = auth.identify(request.headers, client)
        auth.admit(caller)
    except AuthError as exc:
        raise exc.to_http() from None
    return caller
