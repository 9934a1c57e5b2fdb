"""ASGI middleware: body size limit, loopback-only access without auth, security headers;
and the route class that refuses a body that is not UTF-8 JSON, saying so."""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
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


class JsonBodyRoute(APIRoute):
    """A route whose body is a JSON model refuses another Content-Type (415) and bytes that
    are not UTF-8 (400) with a message naming the problem, where FastAPI would answer "There
    was an error parsing the body" or "Input should be a valid dictionary"."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, after the body's check when the route reads a JSON body."""
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            body = await request.body()  # kept by the request: FastAPI reads it again
            if body:
                check_json_body(request.headers.get("content-type"), body)
            return await handler(request)

        return checked


def check_json_body(content_type: str | None, body: bytes) -> None:
    """HTTPException 415 unless ``content_type`` is JSON in UTF-8 (another charset is refused
    unless the body is ASCII, the same in both), 400 unless ``body`` is UTF-8."""
    header = email.message.Message()
    header["content-type"] = content_type or ""
    kind = header.get_content_type() if content_type else None
    # FastAPI reads no body as JSON without Content-Type application/json (strict), so a
    # request without one is refused here too, saying what to send.
    if kind != "application/json" and not (kind or "").endswith("+json"):
        got = f"Content-Type {content_type!r}" if content_type else "No Content-Type"
        raise HTTPException(415, f"{got}: the body must be UTF-8 JSON, sent with Content-Type "
                            "application/json.")
    charset = header.get_param("charset")
    if isinstance(charset, str) and charset.lower() not in ("utf-8", "utf8") and \
            not body.isascii():  # GBK bytes may also read as UTF-8, as other characters
        raise HTTPException(415, f"Content-Type says charset={charset}: the body must be UTF-8 "
                            "JSON; encode it as UTF-8 (charset=utf-8, or no charset).")
    try:
        body.decode("utf-8", errors="surrogatepass")  # what json.loads accepts of UTF-8
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"The body is not UTF-8 (byte 0x{body[exc.start]:02x} at "
                            f"offset {exc.start}): the body must be UTF-8 JSON.") from None


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
