"""ASGI middleware: body size limit, loopback-only access without auth, security headers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emolens.server.settings import is_loopback

# The dashboard runs only its own scripts; plotly needs inline styles, no eval.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class BodyLimit:
    """413 for a body over the limit, by its Content-Length or as it streams in.

    Every path gets ``max_bytes`` except those named in ``uploads`` (path -> bytes and the
    setting that sets them), the routes that take a whole recording, image or video.
    """

    def __init__(self, app: ASGIApp, max_bytes: int,
                 uploads: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = dict(uploads or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = self.uploads.get(scope["path"])
        limit = upload[0] if upload else self.max_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _json(send, 413, self._message(length.decode("latin-1"), limit, upload))
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # chunked body: FastAPI turns this into the response
                raise HTTPException(413, self._message(f"more than {limit}", limit, upload))
            return message

        await self.app(scope, limited, send)

    @staticmethod
    def _message(got: str, limit: int, upload: tuple[int, str] | None) -> str:
        if upload:
            return (f"Upload too large: {got} bytes; the limit is {limit} bytes ({upload[1]}). "
                    "Send a shorter or smaller file (for speech, only the audio track).")
        return (f"Request body too large: {got} bytes; the limit is {limit} bytes "
                "(max_body_bytes). Send fewer or shorter texts per request.")


class LoopbackOnly:
    """With auth off, refuse any client not on loopback (a proxy in front would expose it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        host = client[0] if client else None
        if scope["type"] in ("http", "websocket") and host not in (None, "testclient") and \
                not is_loopback(host):
            if scope["type"] == "http":
                await _json(send, 403, "Authentication is off, so only loopback clients are "
                            "served; start the service with API keys to serve others.")
            else:
                await send({"type": "websocket.close", "code": 1008,
                            "reason": "auth is off: loopback clients only"})
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """nosniff, no framing, no referrer on every response; a CSP on HTML pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith("/docs")  # Swagger UI runs an inline script

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html") and not docs:
                    headers.append((b"content-security-policy", DASHBOARD_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
