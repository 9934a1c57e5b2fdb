"""HTTP for connectors: one httpx client setup, and errors that name the URL.

httpx is imported here only, inside functions, so the rest of ``emolens.ingest`` loads
without it (it is in the ``ingest`` extra).
"""

from __future__ import annotations

import os
from typing import Any

from emolens import __version__ as _version
from emolens.errors import InvalidInputError, MissingExtraError

USER_AGENT = f"emolens/{_version} (offline-first emotion recognition; +ingest)"
TIMEOUT_S = 30.0


def client(headers: dict[str, str] | None = None, timeout: float = TIMEOUT_S) -> Any:
    """An ``httpx.Client`` that follows redirects and identifies itself."""
    try:
        import httpx
    except ImportError as exc:
        raise MissingExtraError("Collecting from the web", "ingest") from exc
    return httpx.Client(headers={"User-Agent": USER_AGENT, **(headers or {})},
                        timeout=timeout, follow_redirects=True)


def get(http: Any, url: str, headers: dict[str, str] | None = None) -> Any:
    """GET ``url``; a response with status 200-299 or 304, else InvalidInputError naming it."""
    import httpx

    try:
        response = http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise InvalidInputError(f"Cannot fetch {url}: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code != 304 and not response.is_success:
        raise InvalidInputError(
            f"Cannot fetch {url}: HTTP {response.status_code} {response.reason_phrase}"
        )
    return response


def auth_header(env: str | None, header: str = "Authorization",
                prefix: str | None = None) -> dict[str, str]:
    """The auth header whose secret is in the environment variable ``env`` (never on the
    command line). ``prefix`` defaults to 'Bearer ' for Authorization, nothing otherwise."""
    if env is None:
        return {}
    secret = os.environ.get(env)
    if not secret:
        raise InvalidInputError(
            f"The environment variable {env} (the auth secret's variable) is not set or empty; "
            f"set it to the token: export {env}=..."
        )
    if prefix is None:
        prefix = "Bearer " if header.lower() == "authorization" else ""
    return {header: f"{prefix}{secret}"}
