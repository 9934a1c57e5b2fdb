"""WebSocket ``/v1/stream/text``: JSON messages in, results out, in order.

A reader task parses messages into a bounded queue; when the queue is full it stops reading,
so a client that sends faster than the model answers is slowed by TCP itself. Messages over
the caller's rate wait for a token instead of being refused. Bad input closes the socket with
a code and a reason, after the results of every earlier message have been sent:

- 1003: a binary frame;  1007: not JSON, or not a valid request (the reason says which field);
- 1009: a message over max_body_bytes;  4401: API key missing or not valid.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from emolens.errors import EmolensError
from emolens.server.auth import AuthError
from emolens.server.schemas import StreamMessage, StreamReply
from emolens.server.service import Service

stream = APIRouter(prefix="/v1")

UNSUPPORTED, INVALID, TOO_BIG, UNAUTHORIZED = 1003, 1007, 1009, 4401


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


_END = _Close(1000, "")


@stream.websocket("/stream/text")
async def stream_text(websocket: WebSocket) -> None:
    """Analyse each JSON message ({"text": ...} or {"texts": [...]}) and reply with results."""
    service: Service = websocket.app.state.service
    await websocket.accept()
    client = websocket.client.host if websocket.client else None
    try:
        caller = await run_in_threadpool(service.auth.identify, websocket.headers, client)
    except AuthError as exc:
        await websocket.close(UNAUTHORIZED, _short(exc.message))
        return
    queue: asyncio.Queue[tuple[int, StreamMessage] | _Close] = asyncio.Queue(
        maxsize=service.settings.ws_queue
    )
    reader = asyncio.create_task(_read(websocket, queue, service.settings.max_body_bytes))
    try:
        await _answer(websocket, queue, service, caller)
    except WebSocketDisconnect:
        pass
    finally:
        reader.cancel()


async def _read(websocket: WebSocket, queue: asyncio.Queue, max_bytes: int) -> None:
    """Parse messages into the queue until the client leaves or sends something bad."""
    seq = 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            await queue.put(_END)
            return
        seq += 1
        if message.get("text") is None:
            await queue.put(_Close(UNSUPPORTED, f"message {seq}: binary frames are not "
                                                "accepted; send JSON text"))
            return
        text = message["text"]
        if len(text.encode("utf-8", errors="surrogatepass")) > max_bytes:
            await queue.put(_Close(TOO_BIG, f"message {seq}: over {max_bytes} bytes"))
            return
        try:
            parsed = StreamMessage.model_validate_json(text)
        except ValidationError as exc:
            await queue.put(_Close(INVALID, f"message {seq}: {_first_error(exc)}"))
            return
        await queue.put((seq, parsed))  # waits while the queue is full: back-pressure


async def _answer(
    websocket: WebSocket, queue: asyncio.Queue, service: Service, caller: str
) -> None:
    """Reply to queued messages in order; close with the reason the reader gave."""
    while True:
        item = await queue.get()
        if isinstance(item, _Close):
            if item is not _END:
                await websocket.close(item.code, _short(item.reason))
            return
        seq, message = item
        wait = service.auth.limiter.take(caller)
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            response = await service.analyze(message)
        except EmolensError as exc:  # over a limit, unknown model: the client's to fix
            await websocket.close(INVALID, _short(f"message {seq}: {exc}"))
            return
        reply = StreamReply(id=message.id, seq=seq, model=response.model,
                            results=response.results, stored=response.stored)
        await websocket.send_text(reply.model_dump_json())


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    if error["type"] == "json_invalid":
        return f"not valid JSON ({error.get('ctx', {}).get('error', error['msg'])})"
    where = ".".join(str(x) for x in error["loc"]) or "message"
    return f"{where}: {error['msg']}"


def _short(reason: str) -> str:
    """A close reason fits in 123 bytes of UTF-8 (RFC 6455)."""
    encoded = reason.encode("utf-8")
    if len(encoded) <= 123:
        return reason
    return encoded[:120].decode("utf-8", errors="ignore") + "..."
