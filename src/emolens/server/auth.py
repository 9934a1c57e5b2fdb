"""Who is calling: API keys from the request headers, and a token bucket per key."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

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
            headers["Retry-After"] = str(retry_seconds(self.retry_after))
        return HTTPException(self.status, self.message, headers=headers)


def retry_seconds(wait: float) -> int:
    """A wait as the whole seconds of a Retry-After header: rounded up, at least 1."""
    return max(1, math.ceil(wait))


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
    """Checks keys (when auth is on) and rates; returns the caller's name for the limiter.

    A key found valid is remembered for ``cache_seconds`` (by its hash), so most requests
    need no database read; a revoked key is refused at the latest that long after.
    """

    _MAX_CACHED = 10_000

    def __init__(
        self, keys: KeyStore, limiter: RateLimiter, required: bool, cache_seconds: float = 5.0
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        self.required = required
        self.cache_seconds = cache_seconds
        self._valid: dict[str, tuple[str, float]] = {}  # sha256(token) -> (caller, until)

    def cached(self, headers: Mapping[str, str], client_host: str | None) -> str | None:
        """The caller when known without the database (auth off, or a key seen lately)."""
        if not self.required:
            return f"client:{client_host or '?'}"
        token = token_from(headers)
        if token is None:
            return None
        hit = self._valid.get(_fingerprint(token))
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

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
        if self.cache_seconds > 0:
            if len(self._valid) >= self._MAX_CACHED:
                self._valid.clear()
            self._valid[_fingerprint(token)] = (f"key:{key.id}",
                                                time.monotonic() + self.cache_seconds)
        return f"key:{key.id}"

    def admit(self, caller: str) -> None:
        """Raise AuthError(429) when the caller is over its rate."""
        wait = self.limiter.take(caller)
        if wait > 0:
            # Whole seconds, as Retry-After gives them, so the body and the header agree.
            retry = retry_seconds(wait)
            raise AuthError(
                429, f"Rate limit exceeded ({self.limiter.rate:g} requests/s, burst "
                f"{self.limiter.burst}); retry in {retry} s.", retry_after=retry,
            )


async def require_key(request: Request) -> str:
    """FastAPI dependency of every /v1 route: the caller, or 401/429."""
    auth: Authenticator = request.app.state.service.auth
    client = request.client.host if request.client else None
    try:
        caller = auth.cached(request.headers, client)
        if caller is None:  # the key store is a database: read it off the event loop
            caller = await run_in_threadpool(auth.identify, request.headers, client)
        auth.admit(caller)
    except AuthError as exc:
        raise exc.to_http() from None
    return caller


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()
